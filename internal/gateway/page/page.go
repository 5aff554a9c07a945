package page

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy lets the page load only from the gateway itself: scripts, styles and
// the Connect calls from 'self', the spoken audio from the blob: URL the page makes of it.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's files: index.html at /, its scripts and stylesheet beside it. Only
// GET and HEAD are answered; a path that is not one of the files is 404, so the handler can be
// mounted at / under the services' paths without answering for them.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		// The embedded tree is fixed at build time; a missing folder is a build mistake.
		panic("page: embedded static folder: " + err.Error())
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the page answers GET and HEAD only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change only with the binary; revalidating each load keeps an upgraded
		// gateway's page from mixing with an old cached script.
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}
