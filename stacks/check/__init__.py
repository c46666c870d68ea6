"""The analyzer host: starts the policy pack as the Pulumi CLI does, drives it over gRPC, reports."""
