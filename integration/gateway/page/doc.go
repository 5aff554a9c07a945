// Package page tests what a newcomer does first, against `jetflow dev` run as a process (the
// binary make binaries built): the gateway's page in headless Chromium (ask, watch the answer
// and its sources render, hear text spoken, see the stages), and `make run` then `jetflow chat`
// from a fresh directory. The tests live in _test.go files; this file only names the package.
package page
