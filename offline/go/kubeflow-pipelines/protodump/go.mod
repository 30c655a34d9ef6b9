module mlops-platform/offline/kubeflow-pipelines/protodump

go 1.26

require (
	github.com/kubeflow/pipelines/api v0.0.0-20250102152816-873e9dedd766
	google.golang.org/protobuf v1.36.6
)

require google.golang.org/genproto v0.0.0-20211026145609-4688e4c4e024 // indirect
