package realzk

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Environment variables that steer where the server is found.
const (
	// EnvClassPath, when set, is the complete Java class path of the server,
	// used verbatim. It takes precedence over EnvHome and the Debian location.
	EnvClassPath = "ZK_CLASSPATH"

	// EnvHome, when set, names the only directory searched for the server
	// jar: the directory itself, then its lib subdirectory. It suits both
	// Debian's /usr/share/java and an unpacked Apache binary release.
	EnvHome = "ZK_HOME"

	// EnvRequire, when set to 1 (or true), turns the skip of Start into a
	// test failure, so that CI cannot pass silently without a real server.
	EnvRequire = "ZK_REQUIRE_REAL"

	// EnvJavaHome, when set, selects $JAVA_HOME/bin/java instead of the java
	// found on PATH.
	EnvJavaHome = "JAVA_HOME"
)

// debianJarDir is where Debian's libzookeeper-java installs the server jar.
const debianJarDir = "/usr/share/java"

// debianExtras are jars that Debian's zookeeper.jar needs but its manifest
// leaves out: an slf4j binding (without one the server logs nothing) and the
// netty modules that NettyServerCnxnFactory loads. Only those present are
// used.
var debianExtras = []string{
	"slf4j-log4j12.jar",
	"log4j-1.2.jar",
	"netty-codec.jar",
	"netty-resolver.jar",
	"netty-transport-native-unix-common.jar",
	"netty-transport-classes-epoll.jar",
}

// releaseJar matches the server jar of an Apache release (zookeeper-3.8.4.jar)
// but not its siblings (zookeeper-jute-3.8.4.jar).
var releaseJar = regexp.MustCompile(`^zookeeper-[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.-]*\.jar$`)

// install is a located Java and server class path.
type install struct {
	java      string
	classPath []string
	source    string // how the class path was found, for messages
}

// Available reports whether a real ZooKeeper server can be started. When it
// can, ok is true and reason describes the class path that will be used;
// when it cannot, reason says why.
//
// The class path comes from the first of: ZK_CLASSPATH (verbatim); ZK_HOME
// (a directory holding zookeeper.jar or zookeeper-X.Y.Z.jar, directly or in
// lib/; when ZK_HOME is set no other place is searched); /usr/share/java,
// where Debian's zookeeper package puts it. Java is $JAVA_HOME/bin/java when
// JAVA_HOME is set, else java from PATH.
func Available() (reason string, ok bool) {
	inst, err := findInstall()
	if err != nil {
		return err.Error(), false
	}
	return inst.source, true
}

// findInstall locates java and the server class path from the environment.
func findInstall() (install, error) {
	if !supported {
		return install{}, errors.New("realzk: starting a real server needs a unix system")
	}
	java, err := findJava()
	if err != nil {
		return install{}, err
	}
	if cp := os.Getenv(EnvClassPath); cp != "" {
		return install{
			java:      java,
			classPath: filepath.SplitList(cp),
			source:    "class path from $" + EnvClassPath,
		}, nil
	}
	dirs := []string{debianJarDir}
	if home := os.Getenv(EnvHome); home != "" {
		dirs = []string{home, filepath.Join(home, "lib")}
	}
	for _, dir := range dirs {
		jar, err := findServerJar(dir)
		if err != nil {
			return install{}, err
		}
		if jar == "" {
			continue
		}
		cp, err := classPathFor(jar)
		if err != nil {
			return install{}, err
		}
		return install{java: java, classPath: cp, source: "server jar " + jar}, nil
	}
	return install{}, fmt.Errorf("realzk: no ZooKeeper server jar in %s", strings.Join(dirs, " or "))
}

// findJava returns the java binary to run.
func findJava() (string, error) {
	if home := os.Getenv(EnvJavaHome); home != "" {
		java := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(java); err != nil {
			return "", fmt.Errorf("realzk: java from $%s: %w", EnvJavaHome, err)
		}
		return java, nil
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("realzk: no java on PATH: %w", err)
	}
	return java, nil
}

// findServerJar returns the server jar in dir, or "" when dir has none.
func findServerJar(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("realzk: %w", err)
	}
	var release []string
	for _, ent := range entries {
		name := ent.Name()
		if name == "zookeeper.jar" {
			return filepath.Join(dir, name), nil
		}
		if releaseJar.MatchString(name) {
			release = append(release, name)
		}
	}
	if len(release) == 0 {
		return "", nil
	}
	sort.Strings(release)
	return filepath.Join(dir, release[len(release)-1]), nil
}

// classPathFor builds the class path around the server jar. A jar whose
// manifest lists its dependencies (Debian) gets those plus debianExtras from
// its directory; a jar without such a list (an Apache release's lib/) gets
// every jar of its directory.
func classPathFor(jar string) ([]string, error) {
	dir := filepath.Dir(jar)
	deps, err := manifestClassPath(jar)
	if err != nil {
		return nil, err
	}
	cp := []string{jar}
	seen := map[string]bool{jar: true}
	add := func(p string) {
		if seen[p] {
			return
		}
		if _, err := os.Stat(p); err != nil {
			return // missing optional jars (Debian's jline) are fine
		}
		seen[p] = true
		cp = append(cp, p)
	}
	if len(deps) == 0 {
		all, err := filepath.Glob(filepath.Join(dir, "*.jar"))
		if err != nil {
			return nil, fmt.Errorf("realzk: %w", err)
		}
		sort.Strings(all)
		for _, p := range all {
			add(p)
		}
		return cp, nil
	}
	for _, d := range deps {
		d = strings.TrimPrefix(d, "file:")
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, filepath.FromSlash(d))
		}
		add(d)
	}
	for _, x := range debianExtras {
		add(filepath.Join(dir, x))
	}
	return cp, nil
}

// manifestClassPath returns the Class-Path entries of jar's manifest.
func manifestClassPath(jar string) ([]string, error) {
	zr, err := zip.OpenReader(jar)
	if err != nil {
		return nil, fmt.Errorf("realzk: reading %s: %w", jar, err)
	}
	defer zr.Close()
	f, err := zr.Open("META-INF/MANIFEST.MF")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("realzk: reading manifest of %s: %w", jar, err)
	}
	defer f.Close()
	value, err := manifestAttr(f, "Class-Path")
	if err != nil {
		return nil, fmt.Errorf("realzk: reading manifest of %s: %w", jar, err)
	}
	return strings.Fields(value), nil
}

// manifestAttr returns the value of attribute name in the main section of a
// JAR manifest, joining continuation lines (those starting with a space).
func manifestAttr(r io.Reader, name string) (string, error) {
	sc := bufio.NewScanner(r)
	var cur strings.Builder
	found := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, " ") {
			if found {
				cur.WriteString(line[1:])
			}
			continue
		}
		if found || line == "" {
			break // attribute complete, or end of the main section
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			found = true
			cur.WriteString(strings.TrimPrefix(v, " "))
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return cur.String(), nil
}
