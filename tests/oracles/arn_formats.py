"""AWS's documented ARN formats, per Pulumi resource type, as an oracle for the offline mocks.

botocore's service models carry no ARN templates, so the formats are AWS's: the "Resource types
defined by <service>" tables of the Service Authorization Reference
(https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html),
written as there (``${Partition}``, ``${Region}``, ``${Account}``, one ``${...}`` per name or id).
"""

from __future__ import annotations

import re

REGION = r"[a-z]{2}(-[a-z]+)+-\d"
ACCOUNT = r"\d{12}"

ARN_FORMATS: dict[str, str] = {
    # list_amazons3.html
    "aws:s3/bucket:Bucket": "arn:${Partition}:s3:::${BucketName}",
    # list_awskeymanagementservice.html
    "aws:kms/key:Key": "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",
    "aws:kms/alias:Alias": "arn:${Partition}:kms:${Region}:${Account}:alias/${Alias}",
    # list_awsidentityandaccessmanagementiam.html
    "aws:iam/role:Role": "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",
    "aws:iam/policy:Policy": "arn:${Partition}:iam::${Account}:policy/${PolicyNameWithPath}",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
        "arn:${Partition}:iam::${Account}:oidc-provider/${OidcProviderName}"
    ),
    "aws:iam/instanceProfile:InstanceProfile": (
        "arn:${Partition}:iam::${Account}:instance-profile/${InstanceProfileNameWithPath}"
    ),
    # list_amazonelasticcontainerregistry.html
    "aws:ecr/repository:Repository": "arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}",
    # list_amazondynamodb.html
    "aws:dynamodb/table:Table": "arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}",
    # list_amazonelastickubernetesservice.html
    "aws:eks/cluster:Cluster": "arn:${Partition}:eks:${Region}:${Account}:cluster/${ClusterName}",
    "aws:eks/nodeGroup:NodeGroup": (
        "arn:${Partition}:eks:${Region}:${Account}:nodegroup/${ClusterName}/${NodegroupName}/${NodegroupId}"
    ),
    "aws:eks/addon:Addon": (
        "arn:${Partition}:eks:${Region}:${Account}:addon/${ClusterName}/${AddonName}/${UUID}"
    ),
    "aws:eks/accessEntry:AccessEntry": (
        "arn:${Partition}:eks:${Region}:${Account}:access-entry/${ClusterName}/${IamIdentityType}/"
        "${IamIdentityAccountID}/${IamIdentityName}/${UUID}"
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": (
        "arn:${Partition}:eks:${Region}:${Account}:podidentityassociation/${ClusterName}/${PodIdentityAssociationId}"
    ),
    # list_amazoncloudwatchlogs.html (and the CloudWatch Logs user guide's ARN table)
    "aws:cloudwatch/logGroup:LogGroup": (
        "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}"
    ),
    # list_amazoneventbridge.html
    "aws:cloudwatch/eventRule:EventRule": "arn:${Partition}:events:${Region}:${Account}:rule/${RuleName}",
    # list_amazonsqs.html
    "aws:sqs/queue:Queue": "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}",
    # list_amazonec2.html
    "aws:ec2/vpc:Vpc": "arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId}",
    "aws:ec2/subnet:Subnet": "arn:${Partition}:ec2:${Region}:${Account}:subnet/${SubnetId}",
    "aws:ec2/routeTable:RouteTable": "arn:${Partition}:ec2:${Region}:${Account}:route-table/${RouteTableId}",
    "aws:ec2/internetGateway:InternetGateway": (
        "arn:${Partition}:ec2:${Region}:${Account}:internet-gateway/${InternetGatewayId}"
    ),
    "aws:ec2/eip:Eip": "arn:${Partition}:ec2:${Region}:${Account}:elastic-ip/${AllocationId}",
    "aws:ec2/vpcEndpoint:VpcEndpoint": (
        "arn:${Partition}:ec2:${Region}:${Account}:vpc-endpoint/${VpcEndpointId}"
    ),
    "aws:ec2/securityGroup:SecurityGroup": (
        "arn:${Partition}:ec2:${Region}:${Account}:security-group/${SecurityGroupId}"
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": (
        "arn:${Partition}:ec2:${Region}:${Account}:security-group/${SecurityGroupId}"
    ),
    "aws:ec2/flowLog:FlowLog": "arn:${Partition}:ec2:${Region}:${Account}:vpc-flow-log/${VpcFlowLogId}",
    "aws:ec2/launchTemplate:LaunchTemplate": (
        "arn:${Partition}:ec2:${Region}:${Account}:launch-template/${LaunchTemplateId}"
    ),
    "aws:ec2/placementGroup:PlacementGroup": (
        "arn:${Partition}:ec2:${Region}:${Account}:placement-group/${PlacementGroupName}"
    ),
    # list_awsglue.html
    "aws:glue/catalogDatabase:CatalogDatabase": (
        "arn:${Partition}:glue:${Region}:${Account}:database/${DatabaseName}"
    ),
    # list_amazonathena.html
    "aws:athena/workgroup:Workgroup": (
        "arn:${Partition}:athena:${Region}:${Account}:workgroup/${WorkGroupName}"
    ),
    # list_amazonelasticache.html
    "aws:elasticache/subnetGroup:SubnetGroup": (
        "arn:${Partition}:elasticache:${Region}:${Account}:subnetgroup:${CacheSubnetGroupName}"
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "arn:${Partition}:elasticache:${Region}:${Account}:replicationgroup:${ReplicationGroupId}"
    ),
}

EC2_ID = r"^(vpc|subnet|rtb|igw|nat|eipalloc|vpce|sg|fl|lt|pg)-[0-9a-f]{17}$"
"""EC2 resource ids: a type prefix and 17 hex digits (EC2 API Reference, e.g. ``VpcId``)."""


def arn_pattern(type_token: str) -> re.Pattern[str]:
    """The documented format of ``type_token``'s ARN as a regex; a ``${...}`` never spans a ``:``."""
    template = ARN_FORMATS[type_token]
    parts = re.split(r"(\$\{\w+\})", template)
    regex = ""
    for part in parts:
        if part == "${Partition}":
            regex += "aws"
        elif part == "${Region}":
            regex += REGION
        elif part == "${Account}":
            regex += ACCOUNT
        elif part.startswith("${"):
            # Names with paths (log groups, roles) keep their slashes; nothing spans a separator ':'.
            regex += (
                r"[^:]+"
                if part
                in {
                    "${LogGroupName}",
                    "${RoleNameWithPath}",
                    "${PolicyNameWithPath}",
                    "${OidcProviderName}",
                    "${InstanceProfileNameWithPath}",
                }
                else r"[^:/]+"
            )
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")
