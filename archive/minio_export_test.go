package archive

import (
	"context"
	"io"
)

// PutUnchecked sends body as MinIO.Put does, declaring sum as its SHA-256,
// but without the client-side check, so tests can see the server's own.
func (m *MinIO) PutUnchecked(ctx context.Context, key string, body io.Reader, size int64, sum string) (ObjectInfo, error) {
	return m.put(ctx, key, body, size, sum, PutOptions{})
}
