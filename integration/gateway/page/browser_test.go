package page

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/jetflow-dev/jetflow/internal/devkit/natscli"
)

// chromiumPath is Debian's chromium, which .ci/run installs; CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// artifactsDir is where the test keeps what a person looks at afterwards: $JETFLOW_ARTIFACTS,
// else bin/artifacts at the repository root.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("JETFLOW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(natscli.RepoRoot(t), "bin", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts directory: %v", err)
	}
	return dir
}

// browser starts headless Chromium with a fresh profile and returns a tab's context. Without
// Chromium the test is skipped, except in CI (CI=true), where that is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath()
	if _, err := exec.LookPath(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium at %s (%v): .ci/run installs Debian's chromium package", exe, err)
		}
		t.Skipf("no Chromium at %s (%v): apt-get install chromium, or set CHROMIUM to one", exe, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1100, 1400),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	return ctx
}

// streamedTokens finds, in the page's status line, that the answer came as tokens first.
var streamedTokens = regexp.MustCompile(`, [1-9][0-9]* tokens streamed`)

// consoleProblems collects the page's uncaught exceptions and logged errors (a script error, a
// resource the Content-Security-Policy refused).
type consoleProblems struct {
	mu   sync.Mutex
	list []string
}

func (c *consoleProblems) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		var problem string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problem = "exception: " + ev.ExceptionDetails.Text
			if e := ev.ExceptionDetails.Exception; e != nil {
				problem += " " + e.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problem = "console.error: " + strings.Join(args, " ")
			}
		case *log.EventEntryAdded:
			// A refused call is logged by the browser's network layer; the page shows it to
			// the user itself, and the checks below read what it shows.
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				problem = fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
		if problem != "" {
			c.mu.Lock()
			c.list = append(c.list, problem)
			c.mu.Unlock()
		}
	})
}

func (c *consoleProblems) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.list, "\n")
}

// The page against the real gateway of `jetflow dev` with the stand-in models: ask without a
// key and be told what to do, enter the key,
// ask, watch the answer and its sources render; speak a text into an audio element; see the
// stages table fill. A screenshot of the page is kept as page.png in the artifacts
// directory (bin/artifacts, or $JETFLOW_ARTIFACTS); a failed step leaves page-failed.png.
func TestPageInChromium(t *testing.T) {
	tab := browser(t)
	d := startDev(t)
	var problems consoleProblems
	if err := problems.listen(tab); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// step runs one step of the user's within its time limit; on failure the test ends with a
	// screenshot and what the page shows.
	step := func(name string, limit time.Duration, do func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, limit)
		defer cancel()
		if err := do(ctx); err != nil {
			shot(tab, t, "page-failed.png")
			ctx, cancel := context.WithTimeout(tab, 10*time.Second)
			defer cancel()
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nthe page shows:\n%s\nconsole:\n%s\njetflow dev logs:\n%s", name, err, body, problems.String(), d.logs.String())
		}
	}
	actions := func(steps ...chromedp.Action[chromedp.Void]) func(ctx context.Context) error {
		return func(ctx context.Context) error { return chromedp.Do(ctx, steps...) }
	}

	step("asking without a key", 30*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(d.gateway+"/"),
			chromedp.WaitVisible(chromedp.CSS("#ask")),
			chromedp.Click(chromedp.CSS("#ask")),
			chromedp.WaitVisible(chromedp.CSS(`#chat[data-state="error"]`)),
		); err != nil {
			return err
		}
		// The refusal comes in the stream's end-of-stream frame, which the page's parser reads.
		said, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#chat-status")))
		if err == nil && !strings.Contains(said, "The gateway needs an API key") {
			err = fmt.Errorf("the page says %q, not what to do about the missing key", said)
		}
		return err
	})
	step("entering the key", 30*time.Second, actions(
		chromedp.SendKeys(chromedp.CSS("#api-key"), d.key),
		chromedp.Click(chromedp.CSS("#save-key")),
	))
	step("keeping the key in localStorage", 10*time.Second, func(ctx context.Context) error {
		stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("jetflow.apiKey")`))
		if err == nil && stored != d.key {
			err = fmt.Errorf("localStorage holds %q", stored)
		}
		return err
	})

	step("asking the question", 60*time.Second, actions(
		clear("question"),
		chromedp.SendKeys(chromedp.CSS("#question"), "How does KEDA scale the workers?"),
		chromedp.Click(chromedp.CSS("#ask")),
		chromedp.WaitVisible(chromedp.CSS(`#chat[data-state="done"]`)),
		chromedp.WaitVisible(chromedp.CSS("#sources li")),
	))
	step("reading the answer and its sources", 10*time.Second, func(ctx context.Context) error {
		answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#answer")))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(answer, "According to [source 1]:") || !strings.Contains(answer, "KEDA") {
			return fmt.Errorf("answer %q is not the stand-in's cited answer", answer)
		}
		sources, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("#sources li")))
		if err != nil {
			return err
		}
		if len(sources) < 2 {
			return fmt.Errorf("%d sources rendered", len(sources))
		}
		status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#chat-status")))
		switch {
		case err != nil:
			return err
		case !strings.Contains(status, "a stand-in model"):
			return fmt.Errorf("the status %q does not say a stand-in answered", status)
		case !streamedTokens.MatchString(status):
			return fmt.Errorf("the status %q shows no tokens streamed before the answer", status)
		}
		return nil
	})
	step("speaking a text", 60*time.Second, actions(
		clear("speak-text"),
		chromedp.SendKeys(chromedp.CSS("#speak-text"), "Hello from the page."),
		chromedp.Click(chromedp.CSS("#say")),
		chromedp.WaitVisible(chromedp.CSS(`#speak[data-state="done"]`)),
	))
	step("playing the speech from a blob", 20*time.Second, func(ctx context.Context) error {
		src, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("audio").src`))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(src, "blob:") {
			return fmt.Errorf("the audio element plays %q, not the spoken blob", src)
		}
		// The browser decoded the WAV once it knows its duration.
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("audio").duration > 0`))
		return err
	})

	step("filling the stages table", 30*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#stage-rows tr"))); err != nil {
			return err
		}
		rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#stage-rows")))
		if err == nil && !strings.Contains(rows, "chat") {
			err = fmt.Errorf("the table shows no chat stage: %q", rows)
		}
		return err
	})

	// The screenshot shows every panel filled: the answer with its sources, the audio, the stages.
	shot(tab, t, "page.png")
	if p := problems.String(); p != "" {
		t.Errorf("the page logged problems:\n%s", p)
	}
}

// clear empties the input with the id, so that what is typed next is all it holds.
func clear(id string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(document.getElementById(%q).value = "") === ""`, id))(ctx, t)
		return chromedp.Void{}, err
	}
}

// shot saves a PNG screenshot (quality 100 is PNG, below it JPEG) of the whole page into the artifacts directory.
func shot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("taking the screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("writing the screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}
