// protodump writes the serialized FileDescriptorProto of cache_key.proto, taken from the served
// github.com/kubeflow/pipelines/api module (cache_key.proto is unchanged from that version to
// KFP 2.14.3). offline/go/kubeflow-pipelines/generate_protos.py feeds it to protoc-gen-go.
package main

import (
	"os"

	"github.com/kubeflow/pipelines/api/v2alpha1/go/cachekey"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
)

func main() {
	out, err := proto.Marshal(protodesc.ToFileDescriptorProto(cachekey.File_cache_key_proto))
	if err != nil {
		panic(err)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		panic(err)
	}
}
