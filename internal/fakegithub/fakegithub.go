// Package fakegithub is a local fake of the GitHub releases API and of
// release asset downloads, for tests of boot2docker's release lookup: the
// "latest release" and release list endpoints of api.github.com
// (/repos/OWNER/REPO/releases[/latest]) and of GitHub Enterprise
// (/api/v3/repos/...), the download URLs
// (/OWNER/REPO/releases/download/TAG/NAME), GitHub's rate limit for
// anonymous clients (403 with its message) and token checks (401 "Bad
// credentials"). It records every request, with whether it carried a
// token, never the token.
package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Release is one release of a repository.
type Release struct {
	Tag    string
	Assets map[string][]byte
}

// Request is a request the fake answered.
type Request struct {
	Method, Path string
	// Token: an Authorization header was sent (its value is not kept).
	Token bool
	// Status is the answer's status code.
	Status int
}

// Server is the fake.
type Server struct {
	*httptest.Server

	mu sync.Mutex
	// releases by "owner/repo", newest first.
	releases map[string][]Release
	// token, when set, is the only accepted token; anonymous requests
	// are allowed until anonymousLimit is used up (-1: unlimited).
	token          string
	anonymousLimit int
	requests       []Request
	// hold, when set, makes asset downloads send the first bytes and
	// then wait for it to close.
	hold chan struct{}
}

// New starts a fake on 127.0.0.1, closed with t.
func New(t testing.TB) *Server {
	s := &Server{releases: map[string][]Release{}, anonymousLimit: -1}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		if s.hold != nil {
			close(s.hold)
			s.hold = nil
		}
		s.mu.Unlock()
		s.Close()
	})
	return s
}

// Publish adds a release (it becomes the latest).
func (s *Server) Publish(repo, tag string, assets map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releases[repo] = append([]Release{{Tag: tag, Assets: assets}}, s.releases[repo]...)
}

// RequireToken accepts only token, and anonymous requests up to limit.
func (s *Server) RequireToken(token string, limit int) {
	s.mu.Lock()
	s.token, s.anonymousLimit = token, limit
	s.mu.Unlock()
}

// Hold makes downloads stall after their first bytes until the test
// ends.
func (s *Server) Hold() {
	s.mu.Lock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
	s.mu.Unlock()
}

// Requests returns the requests so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// APIURL is the releases API URL of repo on this fake, in GitHub
// Enterprise form (http://HOST/api/v3/repos/OWNER/REPO/releases).
func (s *Server) APIURL(repo string) string { return s.URL + "/api/v3/repos/" + repo + "/releases" }

// DownloadURL is where an asset of a release is downloaded from.
func (s *Server) DownloadURL(repo, tag, name string) string {
	return s.URL + "/" + repo + "/releases/download/" + tag + "/" + name
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rec := Request{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("Authorization") != ""}
	status := s.route(w, r)
	rec.Status = status
	s.requests = append(s.requests, rec)
	hold := s.hold
	s.mu.Unlock()
	if status == 0 {
		// An asset: written outside the lock.
		s.asset(w, r, hold)
	}
}

// route answers API requests (under the lock) and returns the status;
// 0 means an asset download, answered by asset.
func (s *Server) route(w http.ResponseWriter, r *http.Request) int {
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if rest, ok := strings.CutPrefix(p, "/repos/"); ok {
		if code := s.auth(w, r); code != 0 {
			return code
		}
		parts := strings.Split(rest, "/")
		if len(parts) < 3 || parts[2] != "releases" {
			return apiError(w, http.StatusNotFound, "Not Found")
		}
		rels, ok := s.releases[parts[0]+"/"+parts[1]]
		if !ok {
			return apiError(w, http.StatusNotFound, "Not Found")
		}
		switch {
		case len(parts) == 3:
			out := make([]any, 0, len(rels))
			for _, rel := range rels {
				out = append(out, s.releaseJSON(r, parts[0]+"/"+parts[1], rel))
			}
			return writeJSON(w, http.StatusOK, out)
		case len(parts) == 4 && parts[3] == "latest":
			if len(rels) == 0 {
				return apiError(w, http.StatusNotFound, "Not Found")
			}
			return writeJSON(w, http.StatusOK, s.releaseJSON(r, parts[0]+"/"+parts[1], rels[0]))
		}
		return apiError(w, http.StatusNotFound, "Not Found")
	}
	if strings.Contains(r.URL.Path, "/releases/download/") {
		return 0
	}
	http.NotFound(w, r)
	return http.StatusNotFound
}

// auth applies the token and the anonymous rate limit.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) int {
	h := r.Header.Get("Authorization")
	if h != "" {
		if s.token != "" && h != "token "+s.token && h != "Bearer "+s.token {
			return apiError(w, http.StatusUnauthorized, "Bad credentials")
		}
		return 0
	}
	if s.anonymousLimit == 0 {
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "0")
		return apiError(w, http.StatusForbidden, "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)")
	}
	if s.anonymousLimit > 0 {
		s.anonymousLimit--
	}
	return 0
}

func (s *Server) releaseJSON(r *http.Request, repo string, rel Release) map[string]any {
	var assets []map[string]any
	for name, data := range rel.Assets {
		assets = append(assets, map[string]any{"name": name, "size": len(data), "browser_download_url": s.DownloadURL(repo, rel.Tag, name)})
	}
	return map[string]any{"tag_name": rel.Tag, "name": rel.Tag, "draft": false, "prerelease": false, "html_url": s.URL + "/" + repo + "/releases/tag/" + rel.Tag, "assets": assets}
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request, hold chan struct{}) {
	// /OWNER/REPO/releases/download/TAG/NAME
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) != 6 {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	var data []byte
	found := false
	for _, rel := range s.releases[parts[0]+"/"+parts[1]] {
		if rel.Tag == parts[4] {
			data, found = rel.Assets[parts[5]]
		}
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if hold != nil {
		w.Write(data[:len(data)/4])
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		return
	}
	// In pieces, as a network delivers it (the progress line shows them).
	for off := 0; off < len(data); off += 64 << 10 {
		end := min(off+64<<10, len(data))
		if _, err := w.Write(data[off:end]); err != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
	return code
}

func apiError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, map[string]string{"message": msg, "documentation_url": fmt.Sprintf("https://docs.github.com/rest#%d", code)})
}
