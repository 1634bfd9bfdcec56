package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"rainbond-ha/toolchain/internal/standin"
)

// remote runs commands over SSH using the resource's `connection`.
type remote struct{}

func (remote) run(ctx context.Context, r standin.Run, in resource.PropertyMap, script string,
	env map[string]string, stdin io.Reader, stdout, stderr io.Writer,
) error {
	conn, ok := in["connection"]
	if !ok || !conn.IsObject() {
		return &setupError{fmt.Errorf("connection is required")}
	}
	client, closeAgent, err := dial(ctx, r, conn.ObjectValue())
	if err != nil {
		return &setupError{err}
	}
	defer closeAgent()
	// Upstream keeps every connection open until the plugin exits; one per step is enough here.
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return &setupError{err}
	}
	defer session.Close()
	for k, v := range env {
		if err := session.Setenv(k, v); err != nil && k != "PULUMI_COMMAND_STDOUT" && k != "PULUMI_COMMAND_STDERR" {
			return &setupError{fmt.Errorf(
				"could not set environment variable %q (the SSH server must accept it with AcceptEnv): %w", k, err)}
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

// clientConfig builds the SSH settings as upstream does: user and timeout from the checked
// connection, the host key checked only when `hostKey` is given, and authentication by the
// private key, then the password, then the SSH agent at `agentSocketPath` or $SSH_AUTH_SOCK,
// whichever is set. The agent is dialed here, before any attempt to reach the node, so a dead
// agent socket fails the step at once. The returned function closes the agent connection.
func clientConfig(c resource.PropertyMap) (*ssh.ClientConfig, func(), error) {
	config := &ssh.ClientConfig{
		User:            str(c, "user"),
		Timeout:         time.Duration(num(c, "perDialTimeout")) * time.Second,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // upstream's behaviour without hostKey
	}
	if hk := str(c, "hostKey"); hk != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hk))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse host key: %w", err)
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
			return nil, nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if pw := str(c, "password"); pw != "" {
		config.Auth = append(config.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	socket := str(c, "agentSocketPath")
	if socket == "" {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket == "" {
		return config, func() {}, nil
	}
	agentConn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, err
	}
	config.Auth = append(config.Auth, ssh.PublicKeysCallback(agent.NewClient(agentConn).Signers))
	return config, func() { _ = agentConn.Close() }, nil
}

// dial connects as upstream does: up to dialErrorLimit+1 dials (-1: no limit), every failure
// retried after a short growing delay (100 ms, x1.5, at most 5 s), a host key mismatch included.
func dial(ctx context.Context, r standin.Run, c resource.PropertyMap) (*ssh.Client, func(), error) {
	if _, ok := c["proxy"]; ok {
		return nil, nil, fmt.Errorf("connection.proxy is not supported by this stand-in provider")
	}
	c = withDefaults(c) // state written before Check filled the defaults in
	config, closeAgent, err := clientConfig(c)
	if err != nil {
		return nil, nil, err
	}
	endpoint := net.JoinHostPort(str(c, "host"), strconv.Itoa(int(num(c, "port"))))
	limit := int(num(c, "dialErrorLimit"))
	shown := "inf"
	if limit >= 0 {
		shown = strconv.Itoa(limit)
	}
	var lastErr error
	ok, client, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			client, err := ssh.Dial("tcp", endpoint, config)
			if err == nil {
				return true, client, nil
			}
			lastErr = err
			if limit >= 0 && try+1 > limit {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
			}
			r.Status(ctx, fmt.Sprintf("Dial %d/%s failed: retrying", try+1, shown))
			return false, nil, nil
		},
	})
	switch {
	case err != nil:
	case !ok:
		err = ctx.Err()
		if err == nil {
			err = lastErr
		}
	default:
		return client.(*ssh.Client), closeAgent, nil
	}
	closeAgent()
	return nil, nil, err
}

func num(m resource.PropertyMap, key resource.PropertyKey) float64 {
	if v, ok := m[key]; ok && v.IsNumber() {
		return v.NumberValue()
	}
	return 0
}
