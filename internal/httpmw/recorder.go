package httpmw

import "net/http"

// recorder remembers the status and counts the body bytes written through
// it. Unwrap lets http.ResponseController (and coder/websocket) reach the
// underlying writer; Flush is explicit because gqlgen's streaming
// transports type-assert http.Flusher.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 && status >= 200 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Flush() {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	_ = http.NewResponseController(rec.ResponseWriter).Flush()
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// wrote reports whether the header has gone out.
func (rec *recorder) wrote() bool { return rec.status != 0 }
