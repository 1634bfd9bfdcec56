package main

import (
	"context"
	"io"
	"os"
	"os/exec"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"rainbond-ha/toolchain/internal/standin"
)

// local runs commands on the machine running pulumi, with `interpreter` (default /bin/sh -c) in
// `dir` (default the program's working directory), as upstream does.
type local struct{}

func (local) run(ctx context.Context, _ standin.Run, in resource.PropertyMap, script string,
	env map[string]string, stdin io.Reader, stdout, stderr io.Writer,
) error {
	args := []string{"/bin/sh", "-c"}
	if v, ok := in["interpreter"]; ok && v.IsArray() && len(v.ArrayValue()) > 0 {
		args = args[:0]
		for _, a := range v.ArrayValue() {
			args = append(args, a.StringValue())
		}
	}
	args = append(args, script)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = str(in, "dir")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	return cmd.Run()
}
