package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

// remote runs commands over SSH using the resource's `connection`.
type remote struct{}

func (remote) run(ctx context.Context, in resource.PropertyMap, script string, env map[string]string,
	stdin io.Reader, stdout, stderr io.Writer,
) error {
	conn, ok := in["connection"]
	if !ok || !conn.IsObject() {
		return fmt.Errorf("connection is required")
	}
	client, err := dial(ctx, conn.ObjectValue())
	if err != nil {
		return err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()
	for k, v := range env {
		if err := session.Setenv(k, v); err != nil && k != "PULUMI_COMMAND_STDOUT" && k != "PULUMI_COMMAND_STDERR" {
			return fmt.Errorf("could not set environment variable %q (the SSH server must accept it with AcceptEnv): %w", k, err)
		}
	}
	session.Stdin, session.Stdout, session.Stderr = stdin, stdout, stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(script) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		return ctx.Err()
	}
}

// dial connects with upstream's defaults: user root, port 22, 10 attempts of 15 s each, and the
// host key checked only when `hostKey` is given.
func dial(ctx context.Context, c resource.PropertyMap) (*ssh.Client, error) {
	if _, ok := c["proxy"]; ok {
		return nil, fmt.Errorf("connection.proxy is not supported by this stand-in provider")
	}
	user := str(c, "user")
	if user == "" {
		user = "root"
	}
	port, attempts, perDial := 22, 10, 15
	if v, ok := c["port"]; ok && v.IsNumber() {
		port = int(v.NumberValue())
	}
	if v, ok := c["dialErrorLimit"]; ok && v.IsNumber() {
		attempts = int(v.NumberValue())
	}
	if v, ok := c["perDialTimeout"]; ok && v.IsNumber() {
		perDial = int(v.NumberValue())
	}
	config := &ssh.ClientConfig{
		User:            user,
		Timeout:         time.Duration(perDial) * time.Second,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // upstream's behaviour without hostKey
	}
	if hk := str(c, "hostKey"); hk != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hk))
		if err != nil {
			return nil, fmt.Errorf("failed to parse host key: %w", err)
		}
		config.HostKeyCallback = ssh.FixedHostKey(key)
		config.HostKeyAlgorithms = []string{key.Type()}
	}
	if pk := str(c, "privateKey"); pk != "" {
		var signer ssh.Signer
		var err error
		if pass := str(c, "privateKeyPassword"); pass != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(pk), []byte(pass))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(pk))
		}
		if err != nil {
			return nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if pw := str(c, "password"); pw != "" {
		config.Auth = append(config.Auth, ssh.Password(pw))
	}
	endpoint := net.JoinHostPort(str(c, "host"), strconv.Itoa(port))
	var lastErr error
	for try := 1; attempts < 0 || try <= attempts; try++ {
		client, err := ssh.Dial("tcp", endpoint, config)
		if err == nil {
			return client, nil
		}
		lastErr = err
		if strings.Contains(err.Error(), "host key mismatch") {
			return nil, fmt.Errorf("%s presented a host key other than connection.hostKey: %w", endpoint, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(min(try, 5)) * time.Second):
		}
	}
	return nil, fmt.Errorf("after %d failed attempts: %w", attempts, lastErr)
}
