package realzk

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Options configures the servers that Start runs. The zero value is one
// standalone server with a 100 ms tick.
type Options struct {
	// Members is the number of servers: 1 (the default) runs a standalone
	// server, more run a quorum ensemble (use an odd number, usually 3).
	Members int

	// TickTime is ZooKeeper's basic time unit, rounded to milliseconds.
	// Default 100 ms, so that sessions expire quickly. initLimit and
	// syncLimit are set to cover about 10 s and 2 s (at least 10 and 5
	// ticks); ExtraConfig can change them.
	TickTime time.Duration

	// MinSessionTimeout and MaxSessionTimeout bound the session timeout the
	// server negotiates. Defaults: 2 and 20 ticks, as in ZooKeeper.
	MinSessionTimeout, MaxSessionTimeout time.Duration

	// Netty selects org.apache.zookeeper.server.NettyServerCnxnFactory for
	// the client port instead of the NIO default.
	Netty bool

	// ReadOnly enables read-only mode (-Dreadonlymode.enabled=true with
	// localSessionsEnabled and localSessionsUpgradingEnabled): a member cut
	// off from the quorum serves reads, with "Mode: read-only", about 2 s
	// after it lost the quorum.
	ReadOnly bool

	// ExtendedTypes sets extendedTypesEnabled=true, needed for TTL nodes.
	ExtendedTypes bool

	// Reconfig sets reconfigEnabled=true and puts the server list in a
	// dynamic config file; with Members == 1 it also sets
	// standaloneEnabled=false, so the single server runs as a quorum of one
	// (Mode: leader) that can be reconfigured. The reconfig operation still
	// needs a super user or ACL permission on /zookeeper/config; for tests,
	// pass "-Dzookeeper.skipACL=yes" or a superDigest in JVMFlags.
	Reconfig bool

	// TLS adds a secure client port on every member (Netty, with a PEM key
	// store made for the test: a CA, a server certificate for 127.0.0.1 and
	// localhost, and a client certificate). Clients may present the client
	// certificate (ssl.clientAuth=want). See Ensemble.SecureAddr and
	// Ensemble.TLSConfig.
	TLS bool

	// ExtraConfig holds more zoo.cfg lines, key to value. A key Start
	// writes anyway takes the value given here; an empty value drops the
	// line altogether.
	ExtraConfig map[string]string

	// SASLUsers turns on SASL DIGEST-MD5 for clients with these users (name
	// to password): a JAAS "Server" section with DigestLoginModule and
	// SASLAuthenticationProvider. Names must be Java identifier-like
	// (letters, digits, '_'); passwords must not hold '"', '\' or a line
	// break.
	SASLUsers map[string]string
	// JVMFlags are passed to java after the defaults (-Xms64m -Xmx256m
	// -XX:+UseSerialGC -XX:TieredStopAtLevel=1 and the -D properties the
	// options above imply), so they can override them.
	JVMFlags []string
}

// normalize fills in defaults and checks the options.
func (o Options) normalize() (Options, error) {
	if o.Members == 0 {
		o.Members = 1
	}
	if o.Members < 0 || o.Members > 255 {
		return o, fmt.Errorf("realzk: Members must be between 1 and 255, not %d", o.Members)
	}
	if o.TickTime == 0 {
		o.TickTime = defaultTickTime
	}
	o.TickTime = o.TickTime.Round(time.Millisecond)
	if o.TickTime <= 0 {
		return o, fmt.Errorf("realzk: TickTime %v is under a millisecond", o.TickTime)
	}
	if o.MinSessionTimeout == 0 {
		o.MinSessionTimeout = 2 * o.TickTime
	}
	if o.MaxSessionTimeout == 0 {
		o.MaxSessionTimeout = 20 * o.TickTime
	}
	if o.MinSessionTimeout > o.MaxSessionTimeout {
		return o, fmt.Errorf("realzk: MinSessionTimeout %v is above MaxSessionTimeout %v",
			o.MinSessionTimeout, o.MaxSessionTimeout)
	}
	for u, p := range o.SASLUsers {
		if u == "" || strings.TrimFunc(u, func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }) != "" {
			return o, fmt.Errorf("realzk: SASL user name %q is not made of letters, digits and '_'", u)
		}
		if strings.ContainsAny(p, "\"\\\r\n") {
			return o, fmt.Errorf("realzk: SASL password of %s holds a quote, a backslash or a line break", u)
		}
	}
	return o, nil
}

// quorum reports whether the servers run in quorum mode (server.N lines).
func (o Options) quorum() bool { return o.Members > 1 || o.Reconfig }

// portsPerMember is how many ports each member listens on.
func (o Options) portsPerMember() int {
	if o.TLS {
		return 4
	}
	return 3
}

// errPortTaken marks a start that failed because a chosen port was taken
// between choosing it and the server binding it.
var errPortTaken = errors.New("realzk: a chosen port was taken by someone else")

// choosePorts is freePorts; tests replace it to hand out a taken port.
var choosePorts = freePorts

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago. All are held open until all are chosen, so none repeats; another
// process may still take one before the server binds it.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("realzk: choosing a port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ticks returns how many ticks cover d, at least lowest.
func ticks(d, tick time.Duration, lowest int) int {
	n := int((d + tick - 1) / tick)
	return max(n, lowest)
}

// millis formats d as whole milliseconds.
func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// cfgLine is one key=value line of zoo.cfg.
type cfgLine struct{ key, value string }

// serverLines returns the server.N lines of the ensemble; role is appended
// to the election port when not empty (the dynamic file's ":participant").
func serverLines(members []*member, role string) []cfgLine {
	lines := make([]cfgLine, 0, len(members))
	for _, m := range members {
		v := fmt.Sprintf("127.0.0.1:%d:%d", m.peerPort, m.electionPort)
		if role != "" {
			v += ":" + role
		}
		v += fmt.Sprintf(";127.0.0.1:%d", m.clientPort)
		lines = append(lines, cfgLine{"server." + strconv.Itoa(m.id()), v})
	}
	return lines
}

// staticConfig returns member m's zoo.cfg lines.
func (e *Ensemble) staticConfig(m *member, members []*member) []cfgLine {
	o := e.opts
	cfg := []cfgLine{
		{"tickTime", millis(o.TickTime)},
		{"initLimit", strconv.Itoa(ticks(10*time.Second, o.TickTime, 10))},
		{"syncLimit", strconv.Itoa(ticks(2*time.Second, o.TickTime, 5))},
		{"dataDir", m.dataDir()},
		{"minSessionTimeout", millis(o.MinSessionTimeout)},
		{"maxSessionTimeout", millis(o.MaxSessionTimeout)},
		{"maxClientCnxns", "0"},
		{"admin.enableServer", "false"},
		{"4lw.commands.whitelist", "*"},
		{"forceSync", "no"},
	}
	if !o.Reconfig {
		// With a dynamic file the client address lives in the server line.
		cfg = append(cfg,
			cfgLine{"clientPort", strconv.Itoa(m.clientPort)},
			cfgLine{"clientPortAddress", "127.0.0.1"})
	}
	if o.ReadOnly {
		cfg = append(cfg,
			cfgLine{"localSessionsEnabled", "true"},
			cfgLine{"localSessionsUpgradingEnabled", "true"})
	}
	if o.ExtendedTypes {
		cfg = append(cfg, cfgLine{"extendedTypesEnabled", "true"})
	}
	if o.TLS {
		cfg = append(cfg,
			cfgLine{"secureClientPort", strconv.Itoa(m.securePort)},
			cfgLine{"secureClientPortAddress", "127.0.0.1"},
			cfgLine{"ssl.keyStore.location", e.tls.keyStore},
			cfgLine{"ssl.keyStore.type", "PEM"},
			cfgLine{"ssl.trustStore.location", e.tls.trustStore},
			cfgLine{"ssl.trustStore.type", "PEM"},
			cfgLine{"ssl.clientAuth", "want"})
	}
	if o.Reconfig {
		cfg = append(cfg,
			cfgLine{"reconfigEnabled", "true"},
			cfgLine{"standaloneEnabled", "false"},
			cfgLine{"dynamicConfigFile", m.dynamicPath()})
	} else if o.quorum() {
		cfg = append(cfg, serverLines(members, "")...)
	}
	return applyExtra(cfg, o.ExtraConfig)
}

// applyExtra overrides, drops or appends lines as ExtraConfig says. New
// keys are appended in sorted order so that the file is reproducible.
func applyExtra(cfg []cfgLine, extra map[string]string) []cfgLine {
	done := make(map[string]bool, len(extra))
	out := cfg[:0:0]
	for _, l := range cfg {
		if v, ok := extra[l.key]; ok {
			done[l.key] = true
			if v == "" {
				continue
			}
			l.value = v
		}
		out = append(out, l)
	}
	var keys []string
	for k, v := range extra {
		if !done[k] && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, cfgLine{k, extra[k]})
	}
	return out
}

// formatConfig renders config lines as a Java properties file.
func formatConfig(cfg []cfgLine) []byte {
	var b strings.Builder
	b.WriteString("# written by github.com/zkgo/zk/internal/realzk\n")
	for _, l := range cfg {
		fmt.Fprintf(&b, "%s=%s\n", l.key, propertyEscaper.Replace(l.value))
	}
	return []byte(b.String())
}

// propertyEscaper escapes what a properties file would otherwise read as an
// escape or a line break in a value (a path, say).
var propertyEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)

// writeMemberFiles creates member m's directories, zoo.cfg, dynamic config
// and myid.
func (e *Ensemble) writeMemberFiles(m *member, members []*member) error {
	if err := os.MkdirAll(m.dataDir(), 0o755); err != nil {
		return fmt.Errorf("realzk: %w", err)
	}
	files := map[string][]byte{
		m.cfgPath(): formatConfig(e.staticConfig(m, members)),
	}
	if e.opts.quorum() {
		files[filepath.Join(m.dataDir(), "myid")] = []byte(strconv.Itoa(m.id()) + "\n")
	}
	if e.opts.Reconfig {
		var b strings.Builder
		for _, l := range serverLines(members, "participant") {
			fmt.Fprintf(&b, "%s=%s\n", l.key, l.value)
		}
		files[m.dynamicPath()] = []byte(b.String())
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("realzk: %w", err)
		}
	}
	return nil
}

// Logging configuration: INFO to the console, which Start sends to the
// member's log file, except the line per four-letter word ("Processing srvr
// command from ...") that polling would flood the log with. log4j 1.2 is
// what Debian's jar uses; logback is what Apache releases since 3.8 use.
const (
	log4jConfig = `log4j.rootLogger=INFO, CONSOLE
log4j.logger.org.apache.zookeeper.server.NIOServerCnxn=WARN
log4j.logger.org.apache.zookeeper.server.NettyServerCnxn=WARN
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{HH:mm:ss,SSS} %-5p [%t] %c{1} - %m%n
`
	logbackConfig = `<configuration>
  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.zookeeper.server.NIOServerCnxn" level="WARN"/>
  <logger name="org.apache.zookeeper.server.NettyServerCnxn" level="WARN"/>
  <root level="INFO"><appender-ref ref="CONSOLE"/></root>
</configuration>
`
)

// jvmArgs returns the java command line (without java) for member m.
func (e *Ensemble) jvmArgs(m *member) []string {
	o := e.opts
	args := []string{
		"-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData", // no hsperfdata file in /tmp
		"-Djava.awt.headless=true",
		"-Dzookeeper.log.dir=" + m.dir,
		"-Dzookeeper.root.logger=INFO,CONSOLE",
		// A URL: a test's directory may hold '#' (subtest x#01) or spaces.
		"-Dlog4j.configuration=" + (&url.URL{Scheme: "file", Path: filepath.Join(e.dir, "log4j.properties")}).String(),
		"-Dlogback.configurationFile=" + filepath.Join(e.dir, "logback.xml"),
		"-Dzookeeper.admin.enableServer=false",
		// A member restarted before it ever took a snapshot must still start.
		"-Dzookeeper.snapshot.trust.empty=true",
	}
	if o.ReadOnly {
		args = append(args, "-Dreadonlymode.enabled=true")
	}
	if o.Netty || o.TLS {
		args = append(args, "-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory")
	}
	if o.ExtendedTypes {
		args = append(args, "-Dzookeeper.extendedTypesEnabled=true")
	}
	if o.SASLUsers != nil {
		args = append(args,
			"-Djava.security.auth.login.config="+filepath.Join(e.dir, "jaas.conf"),
			"-Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
	}
	args = append(args, o.JVMFlags...)
	return append(args,
		"-cp", strings.Join(e.inst.classPath, string(os.PathListSeparator)),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", m.cfgPath())
}
