variable "aws_region" {
  description = "Region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "platform_vpc_name" {
  description = "Name tag of the platform VPC (owned by the network stack)."
  type        = string
}
