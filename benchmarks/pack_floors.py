"""The pack's servicer in one process, no gRPC: pulumi-policy's own against the pack's
once-per-request one (policies/analyzer_servicer.py), over the runner's requests for one stack.

CPU seconds of every Analyze and the AnalyzeStack, so the difference is the conversions alone.
Run in the project being measured: ``python -m benchmarks.pack_floors --stack prod`` prints JSON
(``once_s`` is null for a checkout without the once-per-request servicer).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from typing import Any

from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.policy import _PolicyAnalyzerServicer

from stacks.check.config import reconcile, to_proto
from stacks.check.requests import build_requests
from stacks.offline.engine import plan_stack


def servicer_seconds(kind: type[Any], stack: str) -> float:
    pack = importlib.import_module("policies.__main__")
    initial = importlib.import_module("policies.config").initial_config(pack.POLICIES, pack.PACK_LEVEL)
    servicer = kind(pack.PACK_NAME, "0.0.1", pack.POLICIES, pack.PACK_LEVEL, dict(initial))
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=to_proto(reconcile(info))), None)
    requests = build_requests(plan_stack(stack))
    start = time.process_time()
    for _, request in requests.analyze:
        servicer.Analyze(request, None)
    servicer.AnalyzeStack(requests.stack, None)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    once: float | None = None
    try:
        module = importlib.import_module("policies.analyzer_servicer")
    except ImportError:
        module = None
    stock = servicer_seconds(_PolicyAnalyzerServicer, args.stack)
    if module is not None:
        once = servicer_seconds(module.ConvertOnceServicer, args.stack)
    print(json.dumps({"stack": args.stack, "stock_s": stock, "once_s": once}))


if __name__ == "__main__":
    main()
