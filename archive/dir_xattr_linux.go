package archive

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sumXattrName holds a Dir object's hex SHA-256. The user namespace needs no
// privilege; an attribute is set on the temporary file before it is linked,
// so it is committed with the data.
const sumXattrName = "user.claimtrail.sha256"

func setSumXattr(f *os.File, sum string) error {
	err := unix.Fsetxattr(int(f.Fd()), sumXattrName, []byte(sum), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return errNoXattr
	}
	return err
}

func sumXattr(f *os.File) (string, error) {
	var buf [64]byte
	n, err := unix.Fgetxattr(int(f.Fd()), sumXattrName, buf[:])
	if err != nil {
		return "", errNoXattr // absent or unsupported: the caller rehashes
	}
	sum := string(buf[:n])
	if _, err := decodeSHA256(sum); err != nil {
		return "", fmt.Errorf("%w: attribute %s holds %q", ErrCorrupt, sumXattrName, sum)
	}
	return sum, nil
}
