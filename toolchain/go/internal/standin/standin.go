// Package standin holds what the stand-in resource providers share: the gRPC surface the engine
// needs (configure, check, diff, read, cancel) around a small per-resource interface.
//
// The stand-ins exist because the Go module proxy that offline machines reach serves no version of
// pulumi-command's or pulumi-random's provider module. They implement the subset of those providers'
// schemas that the project uses, with the same tokens, property names and create/update/delete
// semantics, so the program runs unchanged against the real plugins.
package standin

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Resource is one resource type of a stand-in provider. Its methods see inputs and outputs with
// secrets unwrapped; the server keeps track of secrecy around them (see Secrets).
type Resource interface {
	// Defaults fills input defaults, as the real provider's Check does.
	Defaults(inputs resource.PropertyMap) resource.PropertyMap
	// ReplaceOnChange says whether a change to the named input forces a replacement.
	ReplaceOnChange(key resource.PropertyKey) bool
	// Create returns the outputs of a new resource; preview asks for outputs without side effects.
	Create(ctx context.Context, r Run, inputs resource.PropertyMap, preview bool) (resource.PropertyMap, error)
	// Update returns the outputs after an in-place update from olds (previous outputs) to news.
	Update(ctx context.Context, r Run, olds, news resource.PropertyMap, preview bool) (resource.PropertyMap, error)
	// Delete undoes what Create did, given the last outputs.
	Delete(ctx context.Context, r Run, olds resource.PropertyMap) error
}

// Secrets is implemented by a resource type whose real provider handles secrets itself: it takes
// them from the engine as they are, marks more in Check (nested ones included) and returns outputs
// with the secrets of their inputs at the same places. A provider whose every type implements
// Secrets does the same, so its checked inputs and state carry the real provider's secrecy;
// otherwise the engine strips secrets on the way in and marks outputs secret by top-level input
// name on the way back, which loses secrets nested in an object the program made secret as a whole.
type Secrets interface {
	// MarkSecrets marks in checked inputs (the program's secrets kept) what the real Check marks.
	MarkSecrets(checked resource.PropertyMap) resource.PropertyMap
}

// Run is what a resource operation may use to report progress.
type Run struct {
	Host *provider.HostClient
	URN  resource.URN
}

// Status shows a line in the progress display's Info column for the resource.
func (r Run) Status(ctx context.Context, msg string) {
	if r.Host != nil {
		_ = r.Host.LogStatus(ctx, diag.Info, r.URN, msg)
	}
}

// Serve runs a provider named name at version with the given resource types keyed by token.
func Serve(name, version string, types map[string]Resource) {
	err := provider.Main(name, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		accept := len(types) > 0
		for _, r := range types {
			if _, ok := r.(Secrets); !ok {
				accept = false
			}
		}
		return &server{name: name, version: version, types: types, host: host, acceptSecrets: accept}, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	name, version string
	types         map[string]Resource
	host          *provider.HostClient
	acceptSecrets bool
}

func (s *server) resource(urn string) (Resource, error) {
	typ := string(resource.URN(urn).Type())
	if r, ok := s.types[typ]; ok {
		return r, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "%s stand-in provider does not implement %s", s.name, typ)
}

func (s *server) run(urn string) Run { return Run{Host: s.host, URN: resource.URN(urn)} }

// unmarshal reads properties as the engine sent them: with secrets when the provider accepts them.
func (s *server) unmarshal(props *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(props,
		plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: s.acceptSecrets})
}

func (s *server) marshal(props resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(props, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: s.acceptSecrets})
}

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.version}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, s.name, s.version)}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{SupportsPreview: true, AcceptSecrets: s.acceptSecrets}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	r, err := s.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := s.unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	inputs := SecretsOf(news, r.Defaults(Reveal(news)))
	if m, ok := r.(Secrets); ok && s.acceptSecrets {
		inputs = m.MarkSecrets(inputs)
	}
	checked, err := s.marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: checked}, nil
}

func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	r, err := s.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	// With secrets kept, a value that only became secret (or stopped being one) is a change, as
	// the real providers' diff sees it.
	olds, err := s.unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	news, err := s.unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var changed, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, key := range unionKeys(olds, news) {
		o, inOld := olds[key]
		n, inNew := news[key]
		if inOld && inNew && o.DeepEquals(n) {
			continue
		}
		replace := r.ReplaceOnChange(key)
		if replace {
			replaces = append(replaces, string(key))
		}
		kind := diffKind(inOld, inNew, replace)
		changed = append(changed, string(key))
		detailed[string(key)] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(changed) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes: changes, Diffs: changed, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true, DeleteBeforeReplace: false,
	}, nil
}

func diffKind(inOld, inNew, replace bool) pulumirpc.PropertyDiff_Kind {
	switch {
	case !inOld && replace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case !inOld:
		return pulumirpc.PropertyDiff_ADD
	case !inNew && replace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case !inNew:
		return pulumirpc.PropertyDiff_DELETE
	case replace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}

func unionKeys(a, b resource.PropertyMap) []resource.PropertyKey {
	seen := map[resource.PropertyKey]bool{}
	var keys []resource.PropertyKey
	for _, m := range []resource.PropertyMap{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	r, err := s.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := s.unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs, err := r.Create(ctx, s.run(req.GetUrn()), Reveal(inputs), req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := s.marshal(SecretsOf(inputs, outs))
	if err != nil {
		return nil, err
	}
	id := ""
	if !req.GetPreview() {
		id, err = resource.NewUniqueHex(string(resource.URN(req.GetUrn()).Name()), 8, 0)
		if err != nil {
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	r, err := s.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := s.unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := s.unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outs, err := r.Update(ctx, s.run(req.GetUrn()), Reveal(olds), Reveal(news), req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := s.marshal(SecretsOf(news, outs))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	r, err := s.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := s.unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, r.Delete(ctx, s.run(req.GetUrn()), Reveal(olds))
}

// Read returns the recorded state: like the real providers, the stand-ins cannot observe a
// resource's actual state, so a refresh changes nothing.
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
