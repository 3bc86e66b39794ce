package zk

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// validatePath applies ZooKeeper's path rules (PathUtils.validatePath): it
// returns nil or an error that wraps ErrInvalidPath and says what is wrong.
// A sequential path is checked as the Java client checks it, with a digit
// appended, since the server validates it after adding the sequence number:
// "/q/" and "/q/." are valid sequential paths.
func validatePath(path string, sequential bool) error {
	if path == "" {
		return fmt.Errorf("%w: path is empty", ErrInvalidPath)
	}
	check := path
	if sequential {
		check = path + "1"
	}
	if check[0] != '/' {
		return fmt.Errorf("%w: %q does not start with '/'", ErrInvalidPath, path)
	}
	if len(check) == 1 {
		return nil
	}
	if check[len(check)-1] == '/' {
		return fmt.Errorf("%w: %q ends with '/'", ErrInvalidPath, path)
	}
	for rest := check[1:]; ; {
		i := strings.IndexByte(rest, '/')
		comp := rest
		if i >= 0 {
			comp = rest[:i]
		}
		switch comp {
		case "":
			return fmt.Errorf("%w: %q has an empty component", ErrInvalidPath, path)
		case ".", "..":
			return fmt.Errorf("%w: %q has a relative component %q", ErrInvalidPath, path, comp)
		}
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return checkPathChars(path)
}

// checkPathChars refuses a path (or a path prefix) with a character
// ZooKeeper does not allow in a path: a control character, a surrogate or
// private-use character, U+FFF0 to U+FFFF, one outside the BMP, or bytes
// that are not UTF-8.
func checkPathChars(path string) error {
	for i, r := range path {
		if invalidPathRune(r) {
			if _, size := utf8.DecodeRuneInString(path[i:]); r == utf8.RuneError && size == 1 {
				return fmt.Errorf("%w: %q is not valid UTF-8 at byte %d", ErrInvalidPath, path, i)
			}
			return fmt.Errorf("%w: %q has a disallowed character %U at byte %d", ErrInvalidPath, path, r, i)
		}
	}
	return nil
}

func invalidPathRune(r rune) bool {
	return r <= 0x1f ||
		(r >= 0x7f && r <= 0x9f) ||
		(r >= 0xd800 && r <= 0xf8ff) ||
		(r >= 0xfff0 && r <= 0xffff) ||
		r > 0xffff // outside the BMP: Java sees surrogates, which are refused
}

// addChroot turns a caller's path into the server's path.
func addChroot(chroot, path string) string {
	if chroot == "" {
		return path
	}
	if path == "/" {
		return chroot
	}
	return chroot + path
}

// stripChroot turns a server path into the caller's path. A path outside the
// chroot (which the server should never send) is returned unchanged.
func stripChroot(chroot, path string) string {
	if chroot == "" {
		return path
	}
	if path == chroot {
		return "/"
	}
	if len(path) > len(chroot) && path[len(chroot)] == '/' && path[:len(chroot)] == chroot {
		return path[len(chroot):]
	}
	return path
}
