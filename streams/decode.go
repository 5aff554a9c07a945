package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// decodeDefinition decodes one definition file into v (a pointer to a nats.go config struct)
// and returns the fields the file sets. Unknown fields are rejected, and so are known fields
// spelt in another case: encoding/json would accept "Max_Deliver" for max_deliver, but the
// field-by-field comparison with the server would then see a field the server never returns.
func decodeDefinition(data []byte, v any) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	raw := json.NewDecoder(bytes.NewReader(data))
	raw.UseNumber()
	var f fields
	if err := raw.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if f == nil {
		return nil, errors.New("definition is not a JSON object")
	}
	if err := checkFieldNames(f, reflect.TypeOf(v).Elem(), ""); err != nil {
		return nil, err
	}
	return f, nil
}

func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decoding JSON: data after the definition object")
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkFieldNames verifies that every key of obj is the exact JSON name of a field of struct
// type t, recursing into nested structs and slices of structs.
func checkFieldNames(obj map[string]any, t reflect.Type, path string) error {
	names := jsonFieldTypes(t)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ft, ok := names[k]
		if !ok {
			return fmt.Errorf("field %q: not a field of %s (names are case-sensitive)", path+k, t.Name())
		}
		if err := checkNested(obj[k], ft, path+k); err != nil {
			return err
		}
	}
	return nil
}

func checkNested(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if m, ok := v.(map[string]any); ok {
			return checkFieldNames(m, t, path+".")
		}
	case reflect.Slice:
		if a, ok := v.([]any); ok {
			for i, e := range a {
				if err := checkNested(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFieldTypes maps the JSON names of struct type t's fields to their types, the way
// encoding/json names them.
func jsonFieldTypes(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" && f.Anonymous {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for n, ft := range jsonFieldTypes(et) {
					if _, ok := out[n]; !ok {
						out[n] = ft
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
