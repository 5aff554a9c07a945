// Package page is the gateway's page at /: a question answered as it streams in with its
// sources, text spoken back, and the stages' status refreshing every second. It is plain HTML,
// CSS and JavaScript embedded in the binary, with no build step and nothing loaded from another
// origin, so it works on a machine without internet and the gateway's Content-Security-Policy
// can forbid every other origin. The browser speaks the Connect protocol's JSON to the
// gateway's own services; static/connect.js holds the protocol (unary calls and the enveloped
// frames of server streams), static/app.js the page.
package page
