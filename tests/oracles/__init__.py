"""References nobody on this project wrote: botocore service models, Kubernetes schemas, moto."""
