"""Network (optional): a VPC with private subnets only, and the VPC endpoints training and serving need.

No internet gateway and no NAT: jobs and endpoints reach AWS through gateway endpoints (S3, DynamoDB)
and interface endpoints (SageMaker API and runtime, ECR, CloudWatch, Logs, STS, KMS). The security group
lets members talk to each other (multi-node torchrun) and to the endpoints over HTTPS. VPC flow logs go
to an encrypted log group (FSBP EC2.6). Enabled with `flywheel:network.enabled true`.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from flywheel.names import StackNames
from infra import policies

GATEWAY_SERVICES = ("s3", "dynamodb")
INTERFACE_SERVICES = ("sagemaker.api", "sagemaker.runtime", "ecr.api", "ecr.dkr", "logs", "monitoring",
                      "sts", "kms")


def subnet_cidrs(cidr: str, count: int) -> list[str]:
    """`count` equal private subnets carved from the VPC range (a /16 gives /20s)."""
    network = ipaddress.ip_network(cidr)
    return [str(s) for s in list(network.subnets(new_prefix=min(network.prefixlen + 4, 28)))[:count]]


@dataclass(frozen=True)
class NetworkArgs:
    names: StackNames
    region: str
    cidr: str
    az_count: int
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int = 365


class Network(pulumi.ComponentResource):
    subnet_ids: pulumi.Output[list[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flywheel:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = policies.tags(args.names, "network")
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={**tags, "Name": policies.physical_name(args.names, "vpc")}, opts=child)
        zones = aws.get_availability_zones_output(state="available")
        subnets = [aws.ec2.Subnet(f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=cidr,
                                  availability_zone=zones.names.apply(lambda z, i=i: z[i % len(z)]),
                                  map_public_ip_on_launch=False, tags=tags, opts=child)
                   for i, cidr in enumerate(subnet_cidrs(args.cidr, args.az_count))]
        route_table = aws.ec2.RouteTable(f"{name}-private-routes", vpc_id=vpc.id, tags=tags, opts=child)
        for i, subnet in enumerate(subnets):
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}-routes", subnet_id=subnet.id,
                                          route_table_id=route_table.id, opts=child)
        group = aws.ec2.SecurityGroup(
            f"{name}-workloads", vpc_id=vpc.id, description="Flywheel training jobs and endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="-1", from_port=0, to_port=0, self=True,
                                                      description="members talk to each other (torchrun)")],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0,
                                                    cidr_blocks=[args.cidr], description="inside the VPC only")],
            tags=tags, opts=child)
        for service in GATEWAY_SERVICES:
            aws.ec2.VpcEndpoint(f"{name}-{service}", vpc_id=vpc.id, vpc_endpoint_type="Gateway",
                                service_name=f"com.amazonaws.{args.region}.{service}",
                                route_table_ids=[route_table.id], tags=tags, opts=child)
        for service in INTERFACE_SERVICES:
            aws.ec2.VpcEndpoint(f"{name}-{service.replace('.', '-')}", vpc_id=vpc.id,
                                vpc_endpoint_type="Interface", private_dns_enabled=True,
                                service_name=f"com.amazonaws.{args.region}.{service}",
                                subnet_ids=[s.id for s in subnets], security_group_ids=[group.id],
                                tags=tags, opts=child)
        flow_logs = aws.cloudwatch.LogGroup(f"{name}-flow-logs", retention_in_days=args.log_retention_days,
                                            kms_key_id=args.kms_key_arn, tags=tags, opts=child)
        flow_role = aws.iam.Role(f"{name}-flow-logs-role", tags=tags,
                                 assume_role_policy=json.dumps(policies.assume_role("vpc-flow-logs.amazonaws.com")),
                                 opts=child)
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy", role=flow_role.id,
            policy=flow_logs.arn.apply(lambda arn: json.dumps(policies.document(policies.statement(
                "Allow", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                [arn, f"{arn}:*"], sid="FlowLogs")))), opts=child)
        aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination=flow_logs.arn,
                        iam_role_arn=flow_role.arn, tags=tags, opts=child)

        self.subnet_ids = pulumi.Output.all(*[s.id for s in subnets])
        self.security_group_id = group.id
        self.register_outputs({"subnet_ids": self.subnet_ids, "security_group_id": group.id})
