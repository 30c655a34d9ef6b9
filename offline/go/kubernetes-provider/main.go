// Command pulumi-resource-kubernetes serves the pinned pulumi-kubernetes provider.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

// schema.json is the provider module's cmd/pulumi-resource-kubernetes/schema.json with its
// version field set; offline/build-tools.sh writes it before building (it is not committed).
//
//go:embed schema.json
var schema []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, nil)
}
