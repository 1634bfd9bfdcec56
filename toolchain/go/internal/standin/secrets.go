package standin

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// Reveal returns m with every secret replaced by its value, at any depth, for the resource code,
// which reads plain values.
func Reveal(m resource.PropertyMap) resource.PropertyMap {
	out := make(resource.PropertyMap, len(m))
	for k, v := range m {
		out[k] = reveal(v)
	}
	return out
}

func reveal(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return reveal(v.SecretValue().Element)
	case v.IsObject():
		return resource.NewObjectProperty(Reveal(v.ObjectValue()))
	case v.IsArray():
		items := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, item := range v.ArrayValue() {
			items[i] = reveal(item)
		}
		return resource.NewArrayProperty(items)
	default:
		return v
	}
}

// SecretsOf returns out with a secret wherever from has one at the same path: an output keeps the
// secrecy of the input it came from, nested secrets included, as the real providers' encoders do.
func SecretsOf(from, out resource.PropertyMap) resource.PropertyMap {
	result := out.Copy()
	for k, v := range from {
		if o, ok := result[k]; ok {
			result[k] = secretsOf(v, o)
		}
	}
	return result
}

func secretsOf(from, out resource.PropertyValue) resource.PropertyValue {
	if from.IsSecret() {
		inner := secretsOf(from.SecretValue().Element, reveal(out))
		if inner.IsComputed() {
			// Only in a preview, whose outputs are never stored.
			return inner
		}
		return resource.MakeSecret(inner)
	}
	switch {
	case from.IsObject() && out.IsObject():
		return resource.NewObjectProperty(SecretsOf(from.ObjectValue(), out.ObjectValue()))
	case from.IsArray() && out.IsArray() && len(from.ArrayValue()) == len(out.ArrayValue()):
		items := make([]resource.PropertyValue, len(out.ArrayValue()))
		for i, item := range out.ArrayValue() {
			items[i] = secretsOf(from.ArrayValue()[i], item)
		}
		return resource.NewArrayProperty(items)
	default:
		return out
	}
}

// MarkSecret returns m with the value at path (object keys) made secret, keeping the secrecy
// of what contains it; a missing path leaves m as it is.
func MarkSecret(m resource.PropertyMap, path ...resource.PropertyKey) resource.PropertyMap {
	v, ok := m[path[0]]
	if !ok {
		return m
	}
	result := m.Copy()
	result[path[0]] = markSecret(v, path[1:])
	return result
}

func markSecret(v resource.PropertyValue, path []resource.PropertyKey) resource.PropertyValue {
	if v.IsComputed() || (v.IsSecret() && len(path) == 0) {
		return v
	}
	if v.IsSecret() {
		return resource.MakeSecret(markSecret(v.SecretValue().Element, path))
	}
	if len(path) == 0 {
		return resource.MakeSecret(v)
	}
	if !v.IsObject() {
		return v
	}
	return resource.NewObjectProperty(MarkSecret(v.ObjectValue(), path...))
}
