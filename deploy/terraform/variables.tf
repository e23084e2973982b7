variable "kubeconfig" {
  description = "Path of the kubeconfig file."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context to deploy into."
  type        = string
  default     = "minikube"
}

variable "overlay" {
  description = "deploy/k8s overlay to apply. `production` expects the Secret that this module creates; `minikube` makes its own from an env file, so it is not offered here."
  type        = string
  default     = "production"
  validation {
    condition     = contains(["production"], var.overlay)
    error_message = "Only the production overlay takes its Secret from Terraform."
  }
}

variable "istio_api" {
  description = "Routing API at the edge: `gateway-api` (Gateway + HTTPRoute, the Gateway API CRDs must be installed) or `classic` (Istio Gateway + VirtualService)."
  type        = string
  default     = "gateway-api"
  validation {
    condition     = contains(["gateway-api", "classic"], var.istio_api)
    error_message = "istio_api is gateway-api or classic."
  }
}

variable "istio_version" {
  description = "Version of the Istio Helm charts."
  type        = string
  default     = "1.28.0"
}

variable "istio_chart_repository" {
  description = "Helm repository of the Istio charts."
  type        = string
  default     = "https://istio-release.storage.googleapis.com/charts"
}

variable "image_name" {
  description = "Scriptorium image, without tag (minikube: `scriptorium` after `minikube image load`)."
  type        = string
  default     = "scriptorium"
}

variable "image_tag" {
  description = "Scriptorium image tag."
  type        = string
  default     = "0.1.0"
}

variable "postgres_user" {
  description = "PostgreSQL user of the auth service."
  type        = string
  default     = "scriptorium"
}

variable "postgres_db" {
  description = "PostgreSQL database of the auth service."
  type        = string
  default     = "scriptorium"
}

variable "postgres_password" {
  description = "PostgreSQL password, e.g. TF_VAR_postgres_password=$(openssl rand -hex 24). Never commit it."
  type        = string
  sensitive   = true
}

variable "documents_s3_access_key_id" {
  description = "Access key id of the S3 bucket holding the library's originals (`scriptorium-documents` unless the overlay says otherwise), e.g. TF_VAR_documents_s3_access_key_id. Never commit it."
  type        = string
  sensitive   = true
}

variable "documents_s3_secret_access_key" {
  description = "Secret access key of that bucket. Never commit it."
  type        = string
  sensitive   = true
}

variable "otel_collector" {
  description = "host:port of an OTLP/gRPC collector for the mesh's traces (the `otel` tracing provider)."
  type        = string
  default     = "opentelemetry-collector.observability.svc.cluster.local:4317"
}
