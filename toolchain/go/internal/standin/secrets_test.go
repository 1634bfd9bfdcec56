package standin

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestSecretsOfKeepsNestedSecretsAtTheirPaths(t *testing.T) {
	from := resource.PropertyMap{
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
			"host":       resource.NewStringProperty("h"),
			"privateKey": resource.MakeSecret(resource.NewStringProperty("k")),
		})),
		"stdin":  resource.MakeSecret(resource.NewStringProperty("s")),
		"create": resource.NewStringProperty("c"),
	}
	out := Reveal(from)
	out["stdout"] = resource.NewStringProperty("o")
	got := SecretsOf(from, out)
	if !got.DeepEquals(resource.PropertyMap{
		"connection": from["connection"],
		"stdin":      from["stdin"],
		"create":     from["create"],
		"stdout":     resource.NewStringProperty("o"),
	}) {
		t.Fatalf("secrets not kept: %v", got)
	}
}

func TestRevealRemovesEverySecret(t *testing.T) {
	m := resource.PropertyMap{"a": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
		"b": resource.MakeSecret(resource.NewStringProperty("x")),
		"c": resource.NewArrayProperty([]resource.PropertyValue{resource.MakeSecret(resource.NewNumberProperty(1))}),
	}))}
	if Reveal(m).ContainsSecrets() {
		t.Fatalf("secret left: %v", Reveal(m))
	}
}

func TestMarkSecretInsideASecretObject(t *testing.T) {
	m := resource.PropertyMap{"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
		"privateKey": resource.NewStringProperty("k"),
	}))}
	got := MarkSecret(m, "connection", "privateKey")
	conn := got["connection"]
	if !conn.IsSecret() || !conn.SecretValue().Element.ObjectValue()["privateKey"].IsSecret() {
		t.Fatalf("not marked: %v", got)
	}
	if missing := MarkSecret(m, "connection", "password"); !missing.DeepEquals(m) {
		t.Fatalf("an absent field changed the map: %v", missing)
	}
	if plain := MarkSecret(resource.PropertyMap{}, "connection"); len(plain) != 0 {
		t.Fatalf("an absent key was added: %v", plain)
	}
}

func TestMarkSecretTwiceIsOneSecret(t *testing.T) {
	m := resource.PropertyMap{"a": resource.MakeSecret(resource.NewStringProperty("x"))}
	if got := MarkSecret(m, "a"); !got.DeepEquals(m) {
		t.Fatalf("wrapped again: %v", got)
	}
}
