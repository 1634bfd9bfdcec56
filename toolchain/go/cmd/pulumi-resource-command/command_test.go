package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"rainbond-ha/toolchain/internal/standin"
)

// The secrecy pulumi-command v1.2.1's Check gives a remote Command's inputs when the program
// marks `connection` secret as a whole, as its SDKs do.
func TestCheckMarksConnectionSecretsAsUpstream(t *testing.T) {
	in := resource.PropertyMap{
		"create": resource.NewStringProperty("true"),
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"host":       resource.NewStringProperty("192.0.2.1"),
			"privateKey": resource.NewStringProperty("KEY"),
			"password":   resource.NewStringProperty("PW"),
		})),
	}
	var c command
	got := c.MarkSecrets(standin.SecretsOf(in, c.Defaults(standin.Reveal(in))))
	want := resource.PropertyMap{
		"create": resource.NewStringProperty("true"),
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"host":           resource.NewStringProperty("192.0.2.1"),
			"privateKey":     resource.MakeSecret(resource.NewStringProperty("KEY")),
			"password":       resource.MakeSecret(resource.NewStringProperty("PW")),
			"user":           resource.NewStringProperty("root"),
			"port":           resource.NewNumberProperty(22),
			"dialErrorLimit": resource.NewNumberProperty(10),
			"perDialTimeout": resource.NewNumberProperty(15),
		})),
	}
	if !got.DeepEquals(want) {
		t.Fatalf("checked inputs\n got %v\nwant %v", got, want)
	}
}

// Upstream dials the agent whenever SSH_AUTH_SOCK is set, before the node, and a dead socket
// fails the step at once.
func TestADeadAgentSocketFailsBeforeDialing(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "agent.sock")
	t.Setenv("SSH_AUTH_SOCK", dead)
	conn := withDefaults(resource.PropertyMap{"host": resource.NewStringProperty("192.0.2.1")})
	start := time.Now()
	_, _, err := dial(context.Background(), standin.Run{}, conn)
	if err == nil || !strings.Contains(err.Error(), "dial unix "+dead) {
		t.Fatalf("want the agent's dial error, got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the agent error took %s: it must not be retried", time.Since(start))
	}
}

// Upstream dials dialErrorLimit+1 times and says how many attempts failed.
func TestDialRetriesAsUpstream(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := listener.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			_ = c.Close() // not an SSH server: every handshake fails
		}
	}()
	defer listener.Close()
	host, port, _ := net.SplitHostPort(listener.Addr().String())
	p, _ := net.LookupPort("tcp", port)
	conn := withDefaults(resource.PropertyMap{
		"host":           resource.NewStringProperty(host),
		"port":           resource.NewNumberProperty(float64(p)),
		"dialErrorLimit": resource.NewNumberProperty(2),
	})
	_, _, err = dial(context.Background(), standin.Run{}, conn)
	if err == nil || !strings.HasPrefix(err.Error(), "after 2 failed attempts: ") {
		t.Fatalf("got %v", err)
	}
	if len(accepted) != 3 {
		t.Fatalf("dialed %d times, want 3", len(accepted))
	}
}

func TestALoggedLineOver64KiBFailsTheStep(t *testing.T) {
	out, err := command{where: local{}}.exec(context.Background(), standin.Run{},
		resource.PropertyMap{"create": resource.NewStringProperty("head -c 70000 /dev/zero | tr '\\0' x; echo")},
		resource.PropertyMap{}, "create", false)
	if err == nil || !strings.Contains(err.Error(), "never finishes reading") {
		t.Fatalf("got %v, %v", out, err)
	}
	quiet := resource.PropertyMap{
		"create":  resource.NewStringProperty("head -c 70000 /dev/zero | tr '\\0' x; echo"),
		"logging": resource.NewStringProperty("none"),
	}
	_, err = command{where: local{}}.exec(context.Background(), standin.Run{}, quiet, quiet, "create", false)
	if err != nil {
		t.Fatalf("a quiet step may print long lines: %v", err)
	}
}

func TestASetupErrorHasNoScriptSuffix(t *testing.T) {
	_, err := command{where: remote{}}.exec(context.Background(), standin.Run{},
		resource.PropertyMap{"create": resource.NewStringProperty("true")}, resource.PropertyMap{}, "create", false)
	var setup *setupError
	if err == nil || errors.As(err, &setup) || strings.Contains(err.Error(), "running") {
		t.Fatalf("got %v", err)
	}
}
