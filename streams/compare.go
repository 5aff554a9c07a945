package streams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// The comparison rule: only the fields a definition file sets are compared, each against the
// live config marshalled to JSON the same way, so that defaults the server fills in (and
// fields newer servers add) never show as drift. A field the live JSON omits (omitempty) has
// its zero value, so a file may state "backoff": [] or "inactive_threshold": 0 and still match,
// and a server-side change away from that value shows up. Objects are compared key by key
// (server-added metadata keys are ignored); arrays element by element; numbers by value
// (1.0 equals 1).

// toFields marshals a config struct and decodes it as generic JSON, like a definition file.
// Fields that omitempty left out are put back with their zero value's JSON, because that zero
// is not always a zero in JSON: a KeyValueConfig with file storage omits "storage" although
// it means "file".
func toFields(v any) (fields, error) {
	j, err := jsonOf(v)
	if err != nil {
		return nil, fmt.Errorf("encoding live config: %w", err)
	}
	f, ok := j.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("live config %T is not a JSON object", v)
	}
	for name, t := range jsonFieldTypes(reflect.TypeOf(v)) {
		if _, ok := f[name]; ok {
			continue
		}
		zero, err := jsonOf(reflect.Zero(t).Interface())
		if err != nil {
			return nil, fmt.Errorf("encoding zero %s: %w", name, err)
		}
		f[name] = zero
	}
	return f, nil
}

// jsonOf marshals v and decodes it again with json.Number numbers; for a struct the result is
// a fields map.
func jsonOf(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// diffFields lists the fields of want whose value differs in live, in key order.
func diffFields(want, live fields) []FieldDiff {
	var out []FieldDiff
	diffObject("", want, live, &out)
	return out
}

func diffObject(prefix string, want, live map[string]any, out *[]FieldDiff) {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w, l := want[k], live[k]
		p := prefix + k
		if wm, ok := want[k].(map[string]any); ok {
			if lm, isMap := l.(map[string]any); isMap || l == nil {
				diffObject(p+".", wm, lm, out)
				continue
			}
		}
		if !equalValue(w, l) {
			*out = append(*out, FieldDiff{Path: p, Live: plain(l), Want: plain(w)})
		}
	}
}

// equalValue compares a definition value with a live one under the rule above.
func equalValue(want, live any) bool {
	if live == nil {
		return isZero(want)
	}
	if want == nil {
		return isZero(live)
	}
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !equalValue(wv, l[k]) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return false
		}
		for i := range w {
			if !equalValue(w[i], l[i]) {
				return false
			}
		}
		return true
	case json.Number:
		l, ok := live.(json.Number)
		return ok && numbersEqual(w, l)
	case string:
		l, ok := live.(string)
		return ok && w == l
	case bool:
		l, ok := live.(bool)
		return ok && w == l
	}
	return false
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case json.Number:
		return numbersEqual(v, "0")
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, e := range v {
			if !isZero(e) {
				return false
			}
		}
		return true
	}
	return false
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	if x, err := a.Int64(); err == nil {
		if y, err := b.Int64(); err == nil {
			return x == y
		}
	}
	x, errx := a.Float64()
	y, erry := b.Float64()
	return errx == nil && erry == nil && x == y
}

// plain turns json.Number into int64 (or float64 when it has a fraction or is too large), so
// that FieldDiff values print and compare like ordinary Go values.
func plain(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return string(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plain(e)
		}
		return out
	}
	return v
}
