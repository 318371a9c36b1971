aws_region        = "eu-west-1"
platform_vpc_name = "finsight-prod-platform"
