package review

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decodeStandard is what the table's decoders replace: encoding/json into
// the version's type (the Istio types through their own UnmarshalJSON).
func decodeStandard(v *Version, raw []byte) (any, error) {
	obj := v.New()
	return obj, json.Unmarshal(raw, obj)
}

// The fast decoders give what encoding/json gives, but for managedFields,
// which they leave empty (not nil) when the object has some.
func TestDecodersMatchEncodingJSON(t *testing.T) {
	meta := `"metadata":{"name":"x","namespace":"ns","generateName":"x-","uid":"u","resourceVersion":"7","generation":2,` +
		`"creationTimestamp":"2026-11-01T10:00:00Z","deletionTimestamp":"2026-11-02T10:00:00Z","labels":{"a":"b"},"annotations":{"c":"d"},` +
		`"ownerReferences":[{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule","name":"o","uid":"v"}],"finalizers":["f"],` +
		`"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]}`
	docs := map[string][]string{
		"APIRule": {
			`{"apiVersion":"gateway.kyma-project.io/v2","kind":"APIRule",` + meta + `,"spec":{"hosts":["a.example.com","b"],"gateway":"kyma-system/kyma-gateway",` +
				`"service":{"name":"s","namespace":"n","port":8000},"corsPolicy":{"allowOrigins":[{"exact":"x"}],"maxAge":3},"timeout":30,` +
				`"rules":[{"path":"/{**}","methods":["GET"],"jwt":{"authentications":[{"issuer":"https://i","jwksUri":"https://i/jwks"}],"authorizations":[{"requiredScopes":["a"]}]}},` +
				`{"path":"/x","noAuth":true,"service":{"name":"t","port":1}},{"path":"/y","extAuth":{"authorizers":["p"]}}]},"status":{"state":"Ready"}}`,
			`{"metadata":{"name":"x"},"spec":{}}`, `{}`, `null`,
		},
		"Gateway": {
			`{"apiVersion":"networking.istio.io/v1","kind":"Gateway",` + meta + `,"spec":{"selector":{"istio":"ingressgateway"},` +
				`"servers":[{"port":{"number":443,"name":"https","protocol":"HTTPS"},"hosts":["ns/*.example.com"],"tls":{"mode":"MUTUAL","credentialName":"c",` +
				`"credentialNames":["c","d"],"minProtocolVersion":"TLSV1_2","cipherSuites":["x"],"subjectAltNames":["y"]}},{"port":{"number":80,"protocol":"HTTP"},"hosts":["*"]}]},` +
				`"status":{"conditions":[{"type":"Reconciled"}]}}`,
			`{"spec":{"servers":[{"port":{"number":"443"}}]}}`, `{"spec":null}`, `{}`,
		},
		"RequestAuthentication": {
			`{"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication",` + meta + `,"spec":{"selector":{"matchLabels":{"app":"a"}},` +
				`"jwtRules":[{"issuer":"https://i","jwksUri":"https://i/jwks","audiences":["a"],"fromHeaders":[{"name":"h","prefix":"Bearer "}],"outputPayloadToHeader":"p","forwardOriginalToken":true}]}}`,
		},
		"AuthorizationPolicy": {
			`{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",` + meta + `,"spec":{"selector":{"matchLabels":{"app":"a"}},"action":"CUSTOM","provider":{"name":"p"},` +
				`"targetRefs":[{"kind":"Service","group":"","name":"s"}],"rules":[{"from":[{"source":{"principals":["p"],"namespaces":["n"],"requestPrincipals":["i/s"]}}],` +
				`"to":[{"operation":{"methods":["GET"],"paths":["/a/*"],"ports":["8080"]}}],"when":[{"key":"request.auth.claims[iss]","values":["i"]}]}]}}`,
			`{"spec":{"action":7}}`,
		},
	}
	for _, k := range Kinds {
		for _, v := range k.Versions {
			for _, doc := range docs[k.Kind] {
				got, errGot := v.decode([]byte(doc))
				want, errWant := decodeStandard(&v, []byte(doc))
				if (errGot != nil) != (errWant != nil) {
					t.Errorf("%s %s %s: error %v, encoding/json: %v", k.Kind, v.Name, doc, errGot, errWant)
					continue
				}
				if errGot != nil {
					continue
				}
				if msg := sameObject(got, want); msg != "" {
					t.Errorf("%s %s: %s\n%s", k.Kind, v.Name, msg, doc)
				}
			}
		}
	}
}

// sameObject compares decoded objects field by field: metadata (with
// managedFields only present or absent), specs as protobuf messages where
// they are, the rest as Go values; Istio status is not decoded.
func sameObject(got, want any) string {
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := 0; i < g.NumField(); i++ {
		name := g.Type().Field(i).Name
		gf, wf := g.Field(i).Addr().Interface(), w.Field(i).Addr().Interface()
		switch name {
		case "ObjectMeta":
			gm, wm := *gf.(*metav1.ObjectMeta), *wf.(*metav1.ObjectMeta)
			if (gm.ManagedFields != nil) != (wm.ManagedFields != nil) {
				return "managedFields presence differs"
			}
			gm.ManagedFields, wm.ManagedFields = nil, nil
			if !reflect.DeepEqual(gm, wm) {
				return "metadata differs"
			}
		case "Status":
		default:
			if gp, ok := gf.(proto.Message); ok {
				if !proto.Equal(gp, wf.(proto.Message)) {
					return name + " differs: " + gp.(interface{ String() string }).String()
				}
			} else if !reflect.DeepEqual(gf, wf) {
				return name + " differs"
			}
		}
	}
	return ""
}
