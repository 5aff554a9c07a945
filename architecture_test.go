package jetflow_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The architecture the folder tree promises (README, "Repository layout"), checked so that it
// cannot come back unnoticed: the runtime and its libraries never reach up into the workers, no
// worker leans on another, the schema is a leaf, and the stage runtime stays readable in one
// sitting.

const module = "github.com/jetflow-dev/jetflow"

// Limits on the stage runtime: files of one concept each, and a Run that only starts and stops
// the loop's goroutines.
const (
	stageDir          = "internal/stage"
	maxStageFileLines = 300
	maxStageRunLines  = 39 // "under 40", from `func` to the closing brace
)

// goPackage is what `go list -json` says about a package of this module.
type goPackage struct {
	ImportPath   string
	Imports      []string // of the package itself (what ships)
	TestImports  []string // of its _test.go files in the same package
	XTestImports []string // of its _test.go files in package <name>_test
}

// listPackages runs `go list -json ./...` at the module root (the test's working directory).
// `go test` puts its own go command first on PATH.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("listing packages with go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// under reports whether path is dir or a package below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// workerOf returns the worker a package belongs to ("chat" for workers/chat/...), or "" for a
// package that is no worker's (outside workers/, or workers/ itself).
func workerOf(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/workers/")
	if !ok {
		return ""
	}
	worker, _, _ := strings.Cut(rest, "/")
	return worker
}

// importRule is one "package X must not import Y" rule over go list's output.
type importRule struct {
	name string
	// applies says whether the rule constrains the importing package.
	applies func(pkg string) bool
	// forbidden says why pkg must not import imp, or "" when it may.
	forbidden func(pkg, imp string) string
	// withTests also checks what the package's tests import.
	withTests bool
}

var importRules = []importRule{
	{
		name:    "internal does not import workers",
		applies: func(pkg string) bool { return under(pkg, module+"/internal") },
		forbidden: func(_, imp string) string {
			if under(imp, module+"/workers") {
				return "a library under internal/ must not depend on a worker: move what both need into internal/"
			}
			return ""
		},
	},
	{
		name: "no worker imports another",
		// Everything under workers/ is held to it, workers/ itself included: the list of the
		// workers, which imports them all, lives outside it (package platform).
		applies: func(pkg string) bool { return under(pkg, module+"/workers") },
		forbidden: func(pkg, imp string) string {
			if w := workerOf(imp); w != "" && w != workerOf(pkg) {
				return "workers stand alone: what two workers share belongs in internal/"
			}
			return ""
		},
		// A worker's tests that need another worker test the two together: that is what
		// integration/ is for.
		withTests: true,
	},
	{
		name:    "proto is a leaf",
		applies: func(pkg string) bool { return under(pkg, module+"/proto") },
		forbidden: func(_, imp string) string {
			if under(imp, module) && !under(imp, module+"/proto") {
				return "the schema imports no package of ours: it says what is wrong, the runtime decides what that means"
			}
			return ""
		},
	},
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	for _, rule := range importRules {
		t.Run(rule.name, func(t *testing.T) {
			checked := 0
			for _, p := range pkgs {
				if !rule.applies(p.ImportPath) {
					continue
				}
				checked++
				imports := map[string][]string{"imports": p.Imports}
				if rule.withTests {
					imports["its tests import"] = slices.Concat(p.TestImports, p.XTestImports)
				}
				for _, how := range []string{"imports", "its tests import"} {
					for _, imp := range imports[how] {
						if why := rule.forbidden(p.ImportPath, imp); why != "" {
							t.Errorf("%s %s %s: %s", p.ImportPath, how, imp, why)
						}
					}
				}
			}
			// A rule that matched nothing checks nothing: a moved folder must move the rule too.
			if checked == 0 {
				t.Errorf("no package of %s matches the rule; did the folders move?", module)
			}
		})
	}
}

func TestStageFilesAreSmall(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(stageDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		checked++
		n, err := countLines(path)
		if err != nil {
			return err
		}
		if n > maxStageFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by concept", filepath.ToSlash(path), n, maxStageFileLines)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", stageDir, err)
	}
	if checked == 0 {
		t.Fatalf("no .go file under %s", stageDir)
	}
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n, nil
}

func TestStageRunIsShort(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(stageDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", path, err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "Run" || !isPointerTo(fn.Recv, "Stage") {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			found = append(found, start.String())
			if n := end.Line - start.Line + 1; n > maxStageRunLines {
				t.Errorf("(*Stage).Run at %s is %d lines, %d at most: it should only start and stop the loop's goroutines",
					start, n, maxStageRunLines)
			}
		}
	}
	if len(found) != 1 {
		t.Errorf("found (*Stage).Run %d times in %s (%s), want once", len(found), stageDir, strings.Join(found, ", "))
	}
}

// isPointerTo reports whether a method's receiver list is (x *name).
func isPointerTo(recv *ast.FieldList, name string) bool {
	if recv == nil || len(recv.List) != 1 {
		return false
	}
	star, ok := recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == name
}

// The rules above are only as good as their predicates; these rows pin what each one means.
func TestImportRulePredicates(t *testing.T) {
	rule := func(name string) importRule {
		for _, r := range importRules {
			if r.name == name {
				return r
			}
		}
		t.Fatalf("no rule %q", name)
		return importRule{}
	}
	for _, c := range []struct {
		rule, pkg, imp string
		forbidden      bool
	}{
		{"internal does not import workers", module + "/internal/stage", module + "/workers/chat", true},
		{"internal does not import workers", module + "/internal/devkit/bench", module + "/workers", true},
		{"internal does not import workers", module + "/internal/stage", module + "/internal/failure", false},
		{"no worker imports another", module + "/workers/voice", module + "/workers/chat", true},
		{"no worker imports another", module + "/workers/voice/internal/turn", module + "/workers/tts/x", true},
		{"no worker imports another", module + "/workers/voice", module + "/workers/voice/internal/turn", false},
		{"no worker imports another", module + "/workers/voice", module + "/internal/rag", false},
		{"proto is a leaf", module + "/proto/jetflow/v1", module + "/internal/failure", true},
		{"proto is a leaf", module + "/proto/jetflow/v1/jetflowv1connect", module + "/proto/jetflow/v1", false},
		{"proto is a leaf", module + "/proto/jetflow/v1", "google.golang.org/protobuf/proto", false},
	} {
		t.Run(fmt.Sprintf("%s/%s imports %s", c.rule, c.pkg, c.imp), func(t *testing.T) {
			r := rule(c.rule)
			if !r.applies(c.pkg) {
				t.Fatalf("rule does not apply to %s", c.pkg)
			}
			if got := r.forbidden(c.pkg, c.imp) != ""; got != c.forbidden {
				t.Errorf("forbidden = %v, want %v", got, c.forbidden)
			}
		})
	}
	if r := rule("no worker imports another"); !r.applies(module+"/workers") || r.forbidden(module+"/workers", module+"/workers/chat") == "" {
		t.Error("a package at workers/ itself must import no worker: the list of workers is package platform")
	}
	if rule("no worker imports another").applies(module + "/platform") {
		t.Error("the list of the workers, package platform, must be free to import every worker")
	}
	if rule("internal does not import workers").applies(module + "/cmd/jetflow/internal/devplatform") {
		t.Error("entry-point code under cmd/ wires the workers together and may import them")
	}
}
