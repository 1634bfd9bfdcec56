// Command pulumi-resource-random is a stand-in for pulumi-random's provider: RandomPassword and
// RandomString with the upstream inputs, defaults and outputs. Like the Terraform provider it
// bridges, every input change replaces the resource.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/bcrypt"

	"rainbond-ha/toolchain/internal/standin"
)

var version = "0.0.0" // set by -ldflags "-X main.version=..."

// The character sets and default special characters of terraform-provider-random.
const (
	lowerChars     = "abcdefghijklmnopqrstuvwxyz"
	upperChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars   = "0123456789"
	defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

type randomText struct{ withHash bool }

func (randomText) Defaults(in resource.PropertyMap) resource.PropertyMap {
	out := in.Copy()
	for _, key := range []resource.PropertyKey{"special", "upper", "lower", "numeric"} {
		if _, ok := out[key]; !ok {
			out[key] = resource.NewBoolProperty(true)
		}
	}
	if n, ok := out["number"]; ok && n.IsBool() && !n.BoolValue() {
		out["numeric"] = resource.NewBoolProperty(false)
	}
	out["number"] = out["numeric"]
	for _, key := range []resource.PropertyKey{"minLower", "minUpper", "minNumeric", "minSpecial"} {
		if _, ok := out[key]; !ok {
			out[key] = resource.NewNumberProperty(0)
		}
	}
	return out
}

func (randomText) ReplaceOnChange(resource.PropertyKey) bool { return true }

func (t randomText) Create(
	_ context.Context, _ standin.Run, in resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	out := in.Copy()
	if preview {
		out["result"] = resource.MakeComputed(resource.NewStringProperty(""))
		if t.withHash {
			out["bcryptHash"] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		return out, nil
	}
	result, err := generate(in)
	if err != nil {
		return nil, err
	}
	out["result"] = resource.NewStringProperty(result)
	if t.withHash {
		secret := []byte(result)
		if len(secret) > 72 {
			secret = secret[:72] // bcrypt reads at most 72 bytes; upstream hashes the same prefix
		}
		hash, err := bcrypt.GenerateFromPassword(secret, bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		out["bcryptHash"] = resource.NewStringProperty(string(hash))
	}
	return out, nil
}

func (randomText) Update(
	context.Context, standin.Run, resource.PropertyMap, resource.PropertyMap, bool,
) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("random values are replaced, never updated in place")
}

func (randomText) Delete(context.Context, standin.Run, resource.PropertyMap) error { return nil }

func number(in resource.PropertyMap, key resource.PropertyKey) int {
	if v, ok := in[key]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return 0
}

func enabled(in resource.PropertyMap, key resource.PropertyKey) bool {
	v, ok := in[key]
	return !ok || !v.IsBool() || v.BoolValue()
}

// generate follows the upstream algorithm: first the minimum count from each required class, then
// the rest from all enabled classes, then a shuffle.
func generate(in resource.PropertyMap) (string, error) {
	special := defaultSpecial
	if v, ok := in["overrideSpecial"]; ok && v.IsString() {
		special = v.StringValue()
	}
	classes := []struct {
		chars string
		on    bool
		min   int
	}{
		{lowerChars, enabled(in, "lower"), number(in, "minLower")},
		{upperChars, enabled(in, "upper"), number(in, "minUpper")},
		{numericChars, enabled(in, "numeric"), number(in, "minNumeric")},
		{special, enabled(in, "special"), number(in, "minSpecial")},
	}
	length := number(in, "length")
	if length < 1 {
		return "", fmt.Errorf("length must be at least 1, got %d", length)
	}
	var all string
	var out []byte
	for _, c := range classes {
		if !c.on || c.chars == "" {
			continue
		}
		all += c.chars
		for i := 0; i < c.min; i++ {
			ch, err := pick(c.chars)
			if err != nil {
				return "", err
			}
			out = append(out, ch)
		}
	}
	if all == "" {
		return "", fmt.Errorf("at least one of lower, upper, numeric and special must be enabled")
	}
	for len(out) < length {
		ch, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, ch)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out[:length]), nil
}

func pick(chars string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, err
	}
	return chars[i.Int64()], nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	standin.Serve("random", version, map[string]standin.Resource{
		"random:index/randomPassword:RandomPassword": randomText{withHash: true},
		"random:index/randomString:RandomString":     randomText{withHash: false},
	})
}
