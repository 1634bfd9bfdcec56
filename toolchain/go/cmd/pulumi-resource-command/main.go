// Command pulumi-resource-command is a stand-in for pulumi-command's provider: command:local:Command
// and command:remote:Command with the upstream inputs and semantics. Create runs `create`; an update
// runs `update`, or `create` when there is no `update`; delete runs `delete` with the last outputs
// in PULUMI_COMMAND_STDOUT/STDERR; a change to `triggers` replaces the resource. Checked inputs and
// state carry upstream's secrecy (v1.2.1): `connection` is secret, and so are its password and key
// fields inside it.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"rainbond-ha/toolchain/internal/standin"
)

var version = "0.0.0" // set by -ldflags "-X main.version=..."

// runner executes one shell command where the resource says, feeding it stdin and environment.
// An error before the command starts (dialing, the SSH agent) is a *setupError.
type runner interface {
	run(ctx context.Context, r standin.Run, in resource.PropertyMap, script string, env map[string]string,
		stdin io.Reader, stdout, stderr io.Writer) error
}

// setupError is a failure before the command ran, reported as it is: upstream adds the script and
// its output only to a failure of the command itself.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

type command struct{ where runner }

// connectionDefaults are the defaults upstream's Check writes into `connection` (and `proxy`).
var connectionDefaults = resource.PropertyMap{
	"user":           resource.NewStringProperty("root"),
	"port":           resource.NewNumberProperty(22),
	"dialErrorLimit": resource.NewNumberProperty(10),
	"perDialTimeout": resource.NewNumberProperty(15),
}

// connectionSecrets are the connection fields upstream tags `provider:"secret"`.
var connectionSecrets = []resource.PropertyKey{"password", "privateKey", "privateKeyPassword"}

func (command) Defaults(in resource.PropertyMap) resource.PropertyMap {
	conn, ok := in["connection"]
	if !ok || !conn.IsObject() {
		return in
	}
	out := in.Copy()
	c := withDefaults(conn.ObjectValue())
	if proxy, ok := c["proxy"]; ok && proxy.IsObject() {
		c["proxy"] = resource.NewObjectProperty(withDefaults(proxy.ObjectValue()))
	}
	out["connection"] = resource.NewObjectProperty(c)
	return out
}

func withDefaults(c resource.PropertyMap) resource.PropertyMap {
	out := c.Copy()
	for k, v := range connectionDefaults {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// MarkSecrets marks what upstream's Check marks: the whole `connection`, and inside it (and inside
// its `proxy`) the password and key fields. Upstream's diff counts secrecy, so state written with
// any other marking would make it update every step.
func (command) MarkSecrets(in resource.PropertyMap) resource.PropertyMap {
	out := in
	for _, key := range connectionSecrets {
		out = standin.MarkSecret(out, "connection", key)
		out = standin.MarkSecret(out, "connection", "proxy", key)
	}
	return standin.MarkSecret(out, "connection")
}

func (command) ReplaceOnChange(key resource.PropertyKey) bool { return key == "triggers" }

func (c command) Create(
	ctx context.Context, r standin.Run, in resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	return c.exec(ctx, r, in, in, "create", preview)
}

func (c command) Update(
	ctx context.Context, r standin.Run, olds, news resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	step := "update"
	if str(news, "update") == "" {
		step = "create"
	}
	return c.exec(ctx, r, news, olds, step, preview)
}

func (c command) Delete(ctx context.Context, r standin.Run, olds resource.PropertyMap) error {
	_, err := c.exec(ctx, r, olds, olds, "delete", false)
	return err
}

// exec runs the script in in[step] and returns in plus stdout and stderr. prev holds the outputs
// of the previous run, passed to the script like upstream does unless addPreviousOutputInEnv is false.
func (c command) exec(
	ctx context.Context, r standin.Run, in, prev resource.PropertyMap, step string, preview bool,
) (resource.PropertyMap, error) {
	out := in.Copy()
	script := str(in, resource.PropertyKey(step))
	if preview {
		if script != "" {
			out["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
			out["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		return out, nil
	}
	if script == "" {
		if step != "delete" {
			out["stdout"], out["stderr"] = prevOutput(prev, "stdout"), prevOutput(prev, "stderr")
		}
		return out, nil
	}
	env := map[string]string{}
	if e, ok := in["environment"]; ok && e.IsObject() {
		for k, v := range e.ObjectValue() {
			if v.IsString() {
				env[string(k)] = v.StringValue()
			}
		}
	}
	if a, ok := in["addPreviousOutputInEnv"]; !ok || !a.IsBool() || a.BoolValue() {
		if s := str(prev, "stdout"); s != "" {
			env["PULUMI_COMMAND_STDOUT"] = s
		}
		if s := str(prev, "stderr"); s != "" {
			env["PULUMI_COMMAND_STDERR"] = s
		}
	}
	var stdin io.Reader
	if s := str(in, "stdin"); s != "" {
		stdin = strings.NewReader(s)
	}
	logOut, logErr := logged(in)
	var stdout, stderr bytes.Buffer
	both := &lockedBuffer{}
	progress := newProgress(ctx, r)
	outW := []io.Writer{&stdout, both}
	errW := []io.Writer{&stderr, both}
	if logOut {
		outW = append(outW, progress)
	}
	if logErr {
		errW = append(errW, progress)
	}
	err := c.where.run(ctx, r, in, script, env, stdin, io.MultiWriter(outW...), io.MultiWriter(errW...))
	progress.flush()
	var setup *setupError
	if errors.As(err, &setup) {
		return nil, setup.err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: running %q:\n%s", err, script, both.String())
	}
	if progress.tooLong {
		// Upstream's line reader stops at such a line and the step never ends; failing instead
		// lets a test see it.
		return nil, fmt.Errorf("a logged output line is %d bytes or longer, which pulumi-command "+
			"never finishes reading (the step hangs): make the step quiet (logging: none) or "+
			"print shorter lines", maxLoggedLine)
	}
	out["stdout"] = resource.NewStringProperty(strings.TrimSuffix(stdout.String(), "\n"))
	out["stderr"] = resource.NewStringProperty(strings.TrimSuffix(stderr.String(), "\n"))
	return out, nil
}

func prevOutput(prev resource.PropertyMap, key resource.PropertyKey) resource.PropertyValue {
	if v, ok := prev[key]; ok {
		return v
	}
	return resource.NewStringProperty("")
}

func str(m resource.PropertyMap, key resource.PropertyKey) string {
	if v, ok := m[key]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// logged says which streams the `logging` input lets through to the engine's log.
func logged(in resource.PropertyMap) (stdout, stderr bool) {
	switch str(in, "logging") {
	case "none":
		return false, false
	case "stdout":
		return true, false
	case "stderr":
		return false, true
	default: // "stdoutAndStderr", the upstream default
		return true, true
	}
}

// maxLoggedLine is the length from which upstream's reader of logged output (a bufio.Scanner with
// its default 64 KiB buffer) gives up.
const maxLoggedLine = 64 * 1024

// progress forwards complete output lines to the engine as status messages.
type progress struct {
	ctx     context.Context
	r       standin.Run
	mu      sync.Mutex
	buf     []byte
	tooLong bool
}

func newProgress(ctx context.Context, r standin.Run) *progress { return &progress{ctx: ctx, r: r} }

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tooLong {
		return len(b), nil // upstream logs nothing more after such a line
	}
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i >= maxLoggedLine || (i < 0 && len(p.buf) >= maxLoggedLine) {
			p.tooLong, p.buf = true, nil
			return len(b), nil
		}
		if i < 0 {
			return len(b), nil
		}
		p.r.Status(p.ctx, string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
}

func (p *progress) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.r.Status(p.ctx, string(p.buf))
		p.buf = nil
	}
}

// lockedBuffer interleaves stdout and stderr, which are copied by separate goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	standin.Serve("command", version, map[string]standin.Resource{
		"command:local:Command":  command{where: local{}},
		"command:remote:Command": command{where: remote{}},
	})
}
