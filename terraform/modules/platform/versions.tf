terraform {
  required_version = ">= 1.9.0, < 2.0.0" # validations that refer to local.kafka_topics

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}
