output "namespace" {
  description = "Namespace of the platform."
  value       = kubernetes_namespace_v1.scriptorium.metadata[0].name
}

output "edge" {
  description = "How to reach the platform."
  value       = var.istio_api == "gateway-api" ? "kubectl -n ${local.namespace} get gateway scriptorium (its address)" : "kubectl -n istio-ingress get service istio-ingressgateway"
}
