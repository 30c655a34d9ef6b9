module github.com/kubeflow/pipelines/kubernetes_platform

go 1.24

require (
	github.com/kubeflow/pipelines/api v0.0.0-20250902140602-fc3214d4b4d3
	google.golang.org/protobuf v1.36.6
)

require google.golang.org/genproto/googleapis/rpc v0.0.0-20250715232539-7130f93afb79 // indirect

replace github.com/kubeflow/pipelines/api => ../api
