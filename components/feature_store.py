"""FeatureStore: the infrastructure of a Feast feature store, owned by IaC.

Online store: one DynamoDB table per feature view (on-demand, PITR, SSE-KMS, deletion
protection in long-lived stacks) or an ElastiCache Redis replication group (encrypted at rest and
in transit, random auth token, snapshots). Offline store: a prefix of the datasets bucket, a Glue
database and an Athena workgroup that enforces KMS-encrypted results. Registry: an object under
the same prefix. Two IRSA roles (reader for serving, writer for apply/materialization) with
policies scoped to exactly these resources. ``config_yaml`` is Feast's ``feature_store.yaml``,
rendered from the created resources so Feast needs no infrastructure permissions of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pulumi
import pulumi_aws as aws

from components.errors import ComponentError
from components.feature_store_iam import FeatureStoreArns, reader_policy, writer_policy
from components.irsa import ServiceAccountRef, irsa_role
from components.random_token import RandomToken
from components.security_groups import tcp_ingress_group
from components.stateful import settings_options, stateful_options
from components.tables import data_table
from components.tags import Tagging
from stacks.spec.model import FeatureViewSpec, RedisSpec

COMPONENT = "feature-store"
TEMPLATES = Path(__file__).parent / "templates"
FEAST_ENTITY_KEY = "entity_id"
"""Feast's DynamoDB online store keys every table by this string attribute."""
REDIS_PORT = 6379
REDIS_ENGINE_VERSION = "7.1"


@dataclass(frozen=True)
class RedisNetwork:
    """Where a Redis online store lives and who may connect to it."""

    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets for the cache subnet group."""
    client_cidrs: Sequence[str]
    """CIDRs allowed to reach port 6379 (the VPC: pods get VPC addresses)."""


@dataclass(frozen=True)
class FeatureStoreArgs:
    """Inputs of a FeatureStore."""

    environment: str
    """Environment name; prefixes every resource name."""
    stack: str
    """Stack name, written into the rendered feature_store.yaml header."""
    tagging: Tagging
    """The environment's tags; this component adds ``mlenv:component=feature-store``."""
    region: str
    """AWS region the store lives in (written into feature_store.yaml)."""
    project: str
    """Feast project name."""
    feature_views: Sequence[FeatureViewSpec]
    """Feature views; with DynamoDB each gets its own table."""
    datasets_bucket: aws.s3.Bucket
    """Holds the registry, the offline data and the Athena results, under ``feature-store/<project>/``."""
    kms_key: aws.kms.Key
    """Encrypts tables, Redis, the Glue catalog and Athena results (the artifact store's key)."""
    oidc_provider: aws.iam.OpenIdConnectProvider
    """The cluster's OIDC provider, trusted by the reader and writer roles."""
    online_store: str = "dynamodb"
    """"dynamodb" (default) or "redis"."""
    redis: RedisSpec | None = None
    """Redis settings; default RedisSpec() when online_store is redis."""
    redis_network: RedisNetwork | None = None
    """Required when online_store is redis; unused otherwise."""
    reader: ServiceAccountRef = field(default_factory=lambda: ServiceAccountRef("serving", "feast-reader"))
    """Service account of online readers. Default serving/feast-reader."""
    writer: ServiceAccountRef = field(
        default_factory=lambda: ServiceAccountRef("feature-store", "feast-materialize")
    )
    """Service account of apply/materialization jobs. Default feature-store/feast-materialize."""
    long_lived: bool = True
    """True (default): tables and caches are protected, retained and deletion-protected."""
    manage_catalog_encryption: bool = True
    """Set the Glue Data Catalog's encryption (an account-and-region-wide setting). Default True:
    the platform stack owns its region's catalog; turn off where another stack already does."""


def store_prefix(project: str) -> str:
    """Key prefix of the store in the datasets bucket."""
    return f"feature-store/{project}"


def registry_key(project: str) -> str:
    """Key of Feast's registry object."""
    return f"{store_prefix(project)}/registry.pb"


def table_name_template(environment: str) -> str:
    """Feast's ``table_name_template``: tables are namespaced by environment, then project."""
    return f"mlenv-{environment}.{{project}}.{{table_name}}"


def table_name(environment: str, project: str, view: str) -> str:
    """The DynamoDB table Feast will use for ``view`` (Feast's table_name is the view name)."""
    return table_name_template(environment).format(project=project, table_name=view)


def glue_database_name(environment: str, project: str) -> str:
    """Glue database names allow lowercase letters, digits and underscores only."""
    return f"mlenv_{environment.replace('-', '_')}_{project}"


def workgroup_name(environment: str, project: str) -> str:
    """Athena workgroup name."""
    return f"mlenv-{environment}-{project.replace('_', '-')}"


def render_feature_store_yaml(
    *,
    stack: str,
    project: str,
    region: str,
    registry_path: str,
    online: dict[str, str],
    offline: dict[str, str],
    registry_cache_ttl_seconds: int = 60,
) -> str:
    """Feast's feature_store.yaml from ``templates/feature_store.yaml.j2``."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    template = environment.get_template("feature_store.yaml.j2")
    return template.render(
        stack=stack,
        project=project,
        region=region,
        registry_path=registry_path,
        registry_cache_ttl_seconds=registry_cache_ttl_seconds,
        online=online,
        offline=offline,
    )


class FeatureStore(pulumi.ComponentResource):
    """Online tables or Redis, Glue + Athena offline store, registry path and IRSA roles for Feast."""

    tables: dict[str, aws.dynamodb.Table]
    replication_group: aws.elasticache.ReplicationGroup | None
    glue_database: aws.glue.CatalogDatabase
    workgroup: aws.athena.Workgroup
    reader_role: aws.iam.Role
    writer_role: aws.iam.Role
    reader_policy: aws.iam.Policy
    writer_policy: aws.iam.Policy
    registry_path: pulumi.Output[str]
    config_yaml: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlenv:data:FeatureStore", name, None, opts)
        tags = args.tagging.tags(COMPONENT)
        env, project = args.environment, args.project
        child = pulumi.ResourceOptions(parent=self)
        stateful = stateful_options(args.long_lived, parent=self)
        bucket = args.datasets_bucket.bucket
        prefix = store_prefix(project)
        self.registry_path = pulumi.Output.concat("s3://", bucket, "/", registry_key(project))
        staging = pulumi.Output.concat("s3://", bucket, "/", prefix, "/staging/")

        self.tables = {}
        self.replication_group = None
        online: pulumi.Output[dict[str, str]]
        if args.online_store == "dynamodb":
            for view in args.feature_views:
                self.tables[view.name] = data_table(
                    f"{env}-fs-{view.name}",
                    table_name=table_name(env, project, view.name),
                    hash_key=FEAST_ENTITY_KEY,
                    kms_key=args.kms_key,
                    long_lived=args.long_lived,
                    tags=tags,
                    parent=self,
                )
            online = pulumi.Output.from_input(
                {"type": "dynamodb", "table_name_template": table_name_template(env)}
            )
        else:
            online = self._redis(args, tags, stateful)

        self.glue_database = aws.glue.CatalogDatabase(
            f"{env}-fs-{project}",
            name=glue_database_name(env, project),
            description=f"mlenv {env}: Feast offline store of project {project}",
            location_uri=pulumi.Output.concat("s3://", bucket, "/", prefix, "/offline/"),
            tags=tags,
            opts=stateful,
        )
        if args.manage_catalog_encryption:
            aws.glue.DataCatalogEncryptionSettings(
                f"{env}-glue-catalog",
                data_catalog_encryption_settings=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsArgs(
                    encryption_at_rest=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsEncryptionAtRestArgs(
                        catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=args.kms_key.arn
                    ),
                    connection_password_encryption=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsConnectionPasswordEncryptionArgs(
                        return_connection_password_encrypted=True, aws_kms_key_id=args.kms_key.arn
                    ),
                ),
                opts=settings_options(args.long_lived, parent=self),
            )
        self.workgroup = aws.athena.Workgroup(
            f"{env}-fs-{project}",
            name=workgroup_name(env, project),
            description=f"mlenv {env}: Feast offline queries of project {project}",
            state="ENABLED",
            force_destroy=not args.long_lived,
            configuration=aws.athena.WorkgroupConfigurationArgs(
                # Enforced: a client cannot send results elsewhere or unencrypted.
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=pulumi.Output.concat("s3://", bucket, "/", prefix, "/athena-results/"),
                    encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_KMS", kms_key_arn=args.kms_key.arn
                    ),
                ),
            ),
            tags=tags,
            opts=child,
        )

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        arns = pulumi.Output.all(
            account,
            args.datasets_bucket.arn,
            args.kms_key.arn,
            self.workgroup.arn,
            self.glue_database.name,
            *[t.arn for t in self.tables.values()],
        ).apply(
            lambda v: FeatureStoreArns(
                region=args.region,
                account=v[0],
                bucket_arn=v[1],
                kms_key_arn=v[2],
                workgroup_arn=v[3],
                glue_database=v[4],
                table_arns=v[5:],
                prefix=prefix,
                registry_key=registry_key(project),
            )
        )
        self.reader_role, self.reader_policy = self._role(
            f"{env}-fs-reader", args, args.reader, arns.apply(reader_policy), "online reads", tags
        )
        self.writer_role, self.writer_policy = self._role(
            f"{env}-fs-writer",
            args,
            args.writer,
            arns.apply(writer_policy),
            "apply and materialization",
            tags,
        )

        self.config_yaml = pulumi.Output.all(
            self.registry_path, online, self.glue_database.name, self.workgroup.name, staging
        ).apply(
            lambda v: render_feature_store_yaml(
                stack=args.stack,
                project=project,
                region=args.region,
                registry_path=v[0],
                online=v[1],
                offline={"database": v[2], "workgroup": v[3], "staging_location": v[4]},
            )
        )
        self.register_outputs(
            {
                "tables": {view: t.name for view, t in self.tables.items()},
                "registry_path": self.registry_path,
                "glue_database": self.glue_database.name,
                "athena_workgroup": self.workgroup.name,
                "reader_role_arn": self.reader_role.arn,
                "writer_role_arn": self.writer_role.arn,
            }
        )

    def _role(
        self,
        name: str,
        args: FeatureStoreArgs,
        account: ServiceAccountRef,
        document: pulumi.Output[str],
        what: str,
        tags: dict[str, str],
    ) -> tuple[aws.iam.Role, aws.iam.Policy]:
        """An IRSA role with one managed policy (managed, so serving roles can attach it too)."""
        role = irsa_role(
            name,
            oidc_provider=args.oidc_provider,
            account=account,
            description=f"mlenv {args.environment}: Feast {what} ({account.subject})",
            tags=tags,
            parent=self,
        )
        policy = aws.iam.Policy(
            name,
            description=f"mlenv {args.environment}: Feast {what}",
            policy=document,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicyAttachment(
            name, role=role.name, policy_arn=policy.arn, opts=pulumi.ResourceOptions(parent=self)
        )
        return role, policy

    def _redis(
        self, args: FeatureStoreArgs, tags: dict[str, str], stateful: pulumi.ResourceOptions
    ) -> pulumi.Output[dict[str, str]]:
        """An encrypted, token-protected Redis replication group; returns Feast's online settings."""
        if args.redis_network is None:
            raise ComponentError("FeatureStoreArgs.redis_network is required when online_store is redis")
        redis = args.redis or RedisSpec()
        env = args.environment
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.elasticache.SubnetGroup(
            f"{env}-fs-redis",
            description=f"mlenv {env}: Feast online store",
            subnet_ids=args.redis_network.subnet_ids,
            tags=tags,
            opts=child,
        )
        group = tcp_ingress_group(
            f"{env}-fs-redis",
            description=f"mlenv {env}: Feast online store (Redis), TLS from the VPC only",
            vpc_id=args.redis_network.vpc_id,
            port=REDIS_PORT,
            cidrs=args.redis_network.client_cidrs,
            rule_description="Redis clients in the VPC",
            tags=tags,
            opts=child,
        )
        token = RandomToken(f"{env}-fs-redis-auth", purpose=f"mlenv {env} feature store redis", opts=child)
        multi_az = redis.num_cache_clusters > 1
        self.replication_group = aws.elasticache.ReplicationGroup(
            f"{env}-fs-redis",
            description=f"mlenv {env}: Feast online store",
            engine="redis",
            engine_version=REDIS_ENGINE_VERSION,
            node_type=redis.node_type,
            num_cache_clusters=redis.num_cache_clusters,
            port=REDIS_PORT,
            automatic_failover_enabled=multi_az,
            multi_az_enabled=multi_az,
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key.arn,
            transit_encryption_enabled=True,
            auth_token=token.token,
            snapshot_retention_limit=redis.snapshot_retention_days,
            final_snapshot_identifier=f"mlenv-{env}-fs-redis-final" if args.long_lived else None,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            tags=tags,
            opts=stateful,
        )
        endpoint = self.replication_group.primary_endpoint_address
        # Secret explicitly, not only by inheritance from the token: the connection string (and so
        # feature_store.yaml) carries the password, whatever the engine does with the token's marks.
        return pulumi.Output.secret(
            pulumi.Output.all(endpoint, token.token).apply(
                lambda v: {
                    "type": "redis",
                    "connection_string": f"{v[0]}:{REDIS_PORT},ssl=true,password={v[1]}",
                }
            )
        )


def feature_store_outputs(store: FeatureStore) -> dict[str, Any]:
    """What the stack exports about the feature store: the rendered feature_store.yaml and the
    names Feast and its jobs are pointed at."""
    online: dict[str, Any] = (
        {"feature_store_redis_endpoint": store.replication_group.primary_endpoint_address}
        if store.replication_group is not None
        else {"feature_store_tables": {view: table.name for view, table in store.tables.items()}}
    )
    return {
        "feature_store_yaml": store.config_yaml,
        "feature_store_registry": store.registry_path,
        **online,
        "feature_store_glue_database": store.glue_database.name,
        "feature_store_athena_workgroup": store.workgroup.name,
        "feature_store_reader_role_arn": store.reader_role.arn,
        "feature_store_writer_role_arn": store.writer_role.arn,
    }
