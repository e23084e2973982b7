# From an empty cluster to the platform: Istio (base, CNI, istiod, an
# ingress gateway) through Helm, the scriptorium namespace and its
# database Secret, then the kustomize overlay with an Istio component.

locals {
  namespace = "scriptorium"
  component = var.istio_api == "gateway-api" ? "istio" : "istio-classic"
  otel      = split(":", var.otel_collector)
}

resource "kubernetes_namespace_v1" "istio_system" {
  metadata {
    name = "istio-system"
  }
}

resource "kubernetes_namespace_v1" "istio_ingress" {
  metadata {
    name = "istio-ingress"
    labels = {
      "istio-injection" = "enabled"
    }
  }
}

resource "helm_release" "istio_base" {
  name       = "istio-base"
  repository = var.istio_chart_repository
  chart      = "base"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name
}

# The CNI node agent sets up traffic redirection, so that pods need no
# NET_ADMIN init container and pass the restricted Pod Security level.
resource "helm_release" "istio_cni" {
  name       = "istio-cni"
  repository = var.istio_chart_repository
  chart      = "cni"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name
  depends_on = [helm_release.istio_base]
}

resource "helm_release" "istiod" {
  name       = "istiod"
  repository = var.istio_chart_repository
  chart      = "istiod"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_system.metadata[0].name
  wait       = true
  values = [yamlencode({
    pilot = {
      cni = { enabled = true }
    }
    meshConfig = {
      enableTracing = true
      extensionProviders = [
        {
          name = "otel"
          opentelemetry = {
            service = local.otel[0]
            port    = tonumber(local.otel[1])
          }
        },
        {
          # The edge's credential check (deploy/k8s/components/istio*/
          # security.yaml): the request's method, path and Authorization
          # header go to auth's /auth/check; 200 lets the request on,
          # anything else is the answer. auth unreachable: 503, never open.
          name = "scriptorium-auth"
          envoyExtAuthzHttp = {
            service                      = "auth.scriptorium.svc.cluster.local"
            port                         = 8080
            pathPrefix                   = "/auth/check"
            timeout                      = "2s"
            failOpen                     = false
            statusOnError                = "503"
            includeRequestHeadersInCheck = ["authorization", "x-request-id", "traceparent"]
            headersToDownstreamOnDeny    = ["content-type", "www-authenticate"]
          }
        }
      ]
    }
  })]
  depends_on = [helm_release.istio_cni]
}

# The shared ingress gateway for the classic API (the Gateway API
# deploys its own proxy per Gateway).
resource "helm_release" "istio_ingress" {
  count      = var.istio_api == "classic" ? 1 : 0
  name       = "istio-ingressgateway"
  repository = var.istio_chart_repository
  chart      = "gateway"
  version    = var.istio_version
  namespace  = kubernetes_namespace_v1.istio_ingress.metadata[0].name
  values = [yamlencode({
    labels = { istio = "ingressgateway" }
  })]
  depends_on = [helm_release.istiod]
}

resource "kubernetes_namespace_v1" "scriptorium" {
  metadata {
    name = local.namespace
    labels = {
      "app.kubernetes.io/part-of"                  = "scriptorium"
      "istio-injection"                            = "enabled"
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
    }
  }
}

resource "kubernetes_secret_v1" "postgres" {
  metadata {
    name      = "postgres-secret"
    namespace = kubernetes_namespace_v1.scriptorium.metadata[0].name
  }
  data = {
    "postgresql-user"     = var.postgres_user
    "postgresql-db"       = var.postgres_db
    "postgresql-password" = var.postgres_password
  }
}

resource "random_password" "console_session_key" {
  length  = 64
  special = false
}

resource "kubernetes_secret_v1" "console_session" {
  metadata {
    name      = "console-session"
    namespace = kubernetes_namespace_v1.scriptorium.metadata[0].name
  }
  data = {
    "session-key" = random_password.console_session_key.result
  }
}

# The library's S3 keys (deploy/k8s/overlays/production/documents-s3.yaml).
resource "kubernetes_secret_v1" "documents_s3" {
  metadata {
    name      = "documents-s3"
    namespace = kubernetes_namespace_v1.scriptorium.metadata[0].name
  }
  data = {
    "access-key-id"     = var.documents_s3_access_key_id
    "secret-access-key" = var.documents_s3_secret_access_key
  }
}

data "kustomization_overlay" "platform" {
  resources  = ["${path.module}/../k8s/overlays/${var.overlay}"]
  components = ["${path.module}/../k8s/components/${local.component}"]
  images {
    name     = "scriptorium"
    new_name = var.image_name
    new_tag  = var.image_tag
  }
  # The namespace is Terraform's (above).
  patches {
    patch = <<-EOT
      $patch: delete
      apiVersion: v1
      kind: Namespace
      metadata:
        name: ${local.namespace}
    EOT
  }
}

# Applied in the order kustomize objects need: namespaces and CRDs,
# then everything else, then webhooks.
resource "kustomization_resource" "p0" {
  for_each = data.kustomization_overlay.platform.ids_prio[0]
  manifest = data.kustomization_overlay.platform.manifests[each.value]
  depends_on = [
    kubernetes_namespace_v1.scriptorium,
    helm_release.istiod,
  ]
}

resource "kustomization_resource" "p1" {
  for_each = data.kustomization_overlay.platform.ids_prio[1]
  manifest = data.kustomization_overlay.platform.manifests[each.value]
  depends_on = [
    kustomization_resource.p0,
    kubernetes_secret_v1.postgres,
    kubernetes_secret_v1.console_session,
    kubernetes_secret_v1.documents_s3,
  ]
}

resource "kustomization_resource" "p2" {
  for_each   = data.kustomization_overlay.platform.ids_prio[2]
  manifest   = data.kustomization_overlay.platform.manifests[each.value]
  depends_on = [kustomization_resource.p1]
}
