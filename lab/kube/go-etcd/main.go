// Command etcd is upstream's etcd server. Upstream's own module replaces its siblings with relative
// paths, so `go install` refuses it; this module requires the same tagged modules instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
