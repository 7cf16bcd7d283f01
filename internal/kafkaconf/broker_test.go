//go:build integration

package kafkaconf_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The dedicated broker's SASL users. PLAIN users live in the JAAS config; SCRAM users are written into the metadata
// log when the storage is formatted. The passwords differ so that a test cannot pass on the wrong credential store.
const (
	plainUser     = "alice"
	plainPassword = "alice-plain-secret"
	scramUser     = "alice"
	scramPassword = "alice-scram-secret"
	// A SCRAM user with no right but those a test grants it by ACL (StandardAuthorizer): no CreateTopics.
	limitedUser     = "bob"
	limitedPassword = "bob-scram-secret"

	brokerStartTimeout = 90 * time.Second
	installHint        = "run `deploy/local/services.sh install`"
)

// secureBroker is a single-node Kafka (KRaft, broker and controller in one JVM) of this test binary's own, in its own
// temporary directory and on its own free loopback ports; never the shared broker of `make test`.
type secureBroker struct {
	SASLAddr string // SASL_SSL: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS
	SSLAddr  string // SSL: TLS only, no client certificate (also the inter-broker listener)
	MTLSAddr string // SSL with ssl.client.auth=required
	PKI      *pki

	dir     string
	logPath string
	logFile *os.File
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the JVM has exited
}

var (
	brokerOnce sync.Once
	broker     *secureBroker
	brokerErr  error
)

// kafkaBroker starts the dedicated broker on first use (a JVM start costs seconds, so all tests share one) and returns
// it. TestMain stops it. A broker that cannot start fails the test; it never skips.
func kafkaBroker(t *testing.T) *secureBroker {
	t.Helper()
	brokerOnce.Do(func() {
		start := time.Now()
		broker, brokerErr = startSecureBroker()
		if brokerErr == nil {
			fmt.Fprintf(os.Stderr, "kafkaconf: dedicated TLS/SASL Kafka broker ready in %s (SASL_SSL %s, SSL %s, mTLS %s, dir %s)\n",
				time.Since(start).Round(time.Millisecond), broker.SASLAddr, broker.SSLAddr, broker.MTLSAddr, broker.dir)
		}
	})
	if brokerErr != nil {
		t.Fatalf("dedicated Kafka broker: %v", brokerErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the broker log %s:\n%s", broker.logPath, broker.logTail(40))
		}
	})
	return broker
}

// stopKafkaBroker stops the broker if one was started and removes its directory.
func stopKafkaBroker() {
	if broker != nil {
		start := time.Now()
		if err := broker.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kafkaconf: stop the dedicated Kafka broker: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "kafkaconf: dedicated Kafka broker stopped in %s\n", time.Since(start).Round(time.Millisecond))
		}
		broker = nil
	}
}

// kafkaLibs finds the broker jars services.sh installs into <repo>/.local/kafka/libs (GPUMETER_LOCAL_DIR overrides
// <repo>/.local, as in services.sh).
func kafkaLibs() (string, error) {
	state := os.Getenv("GPUMETER_LOCAL_DIR")
	if state == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		state = filepath.Join(root, ".local")
	}
	libs := filepath.Join(state, "kafka", "libs")
	jars, _ := filepath.Glob(filepath.Join(libs, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return "", fmt.Errorf("no Kafka broker jars (kafka_2.13-*.jar) in %s: %s", libs, installHint)
	}
	return libs, nil
}

// repoRoot is the directory of the main module's go.mod: `go env GOMOD`, or the nearest go.mod above the package
// directory when the go command is not at hand.
func repoRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory and `go env GOMOD` failed")
		}
		dir = parent
	}
}

func javaBinary() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if j := filepath.Join(home, "bin", "java"); fileExists(j) {
			return j, nil
		}
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("no java on PATH (needed for the Kafka broker): %s", installHint)
	}
	return j, nil
}

func fileExists(name string) bool {
	st, err := os.Stat(name)
	return err == nil && !st.IsDir()
}

// freePorts reserves n distinct loopback ports by listening on port 0 and closing again.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// clusterID is what `kafka-storage random-uuid` prints: 16 random bytes, base64url without padding. One starting
// with '-' would read as an option.
func clusterID() string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

const log4jConfig = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <Console name="out" target="SYSTEM_OUT"><PatternLayout pattern="[%d{ISO8601}{UTC}] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="out"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="WARN"/>
    <Logger name="org.apache.kafka.common.config" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log" level="WARN"/>
    <Logger name="kafka.log" level="WARN"/>
  </Loggers>
</Configuration>
`

// serverProperties is the base config of deploy/local/kafka/server.properties with three TLS listeners instead of
// PLAINTEXT. The controller listener stays PLAINTEXT on loopback.
func serverProperties(dir string, p *pki, sasl, ssl, mtls, controller int) string {
	return fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[5]d
listeners=SASL_SSL://127.0.0.1:%[2]d,SSL://127.0.0.1:%[3]d,MTLS://127.0.0.1:%[4]d,CONTROLLER://127.0.0.1:%[5]d
advertised.listeners=SASL_SSL://127.0.0.1:%[2]d,SSL://127.0.0.1:%[3]d,MTLS://127.0.0.1:%[4]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,MTLS:SSL,CONTROLLER:PLAINTEXT

ssl.keystore.type=PEM
ssl.keystore.location=%[6]s
ssl.truststore.type=PEM
ssl.truststore.location=%[7]s
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_%[8]s="%[9]s";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

log.dirs=%[1]s/data

offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0

# ACLs (StandardAuthorizer, KRaft). The controller listener (PLAINTEXT) and the TLS-only listener authenticate as
# ANONYMOUS, the mTLS one as CN=<certificate>: super users, as alice and admin are; bob gets what a test grants.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin;User:%[8]s;User:CN=gpumeter;User:CN=localhost
allow.everyone.if.no.acl.found=false

num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
`, dir, sasl, ssl, mtls, controller, p.BrokerKeyStore, p.CAFile, plainUser, plainPassword)
}

// jvmArgs are the options of both JVMs (storage format and broker): small heap, fast start.
func jvmArgs(dir, libs string) []string {
	return []string{"-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true", "-Dlog4j2.configurationFile=" + filepath.Join(dir, "log4j2.xml"),
		"-Dkafka.logs.dir=" + filepath.Join(dir, "logs"), "-cp", filepath.Join(libs, "*")}
}

func startSecureBroker() (_ *secureBroker, err error) {
	libs, err := kafkaLibs()
	if err != nil {
		return nil, err
	}
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	removeStaleBrokerDirs()
	dir, err := os.MkdirTemp("", brokerDirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	b := &secureBroker{dir: dir, logPath: filepath.Join(dir, "broker.log"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			if stopErr := b.stop(); stopErr != nil {
				err = fmt.Errorf("%w (and stopping it: %v)", err, stopErr)
			}
		}
	}()
	if b.PKI, err = newPKI(dir); err != nil {
		return nil, fmt.Errorf("make certificates: %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, fmt.Errorf("find free ports: %w", err)
	}
	b.SASLAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	b.SSLAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	b.MTLSAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte(serverProperties(dir, b.PKI, ports[0], ports[1], ports[2], ports[3])), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j2.xml"), []byte(log4jConfig), 0o600); err != nil {
		return nil, err
	}

	// Format the storage, with the SCRAM users written into the metadata log.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	format := exec.CommandContext(ctx, java, append(jvmArgs(dir, libs), "kafka.tools.StorageTool", "format",
		"-t", clusterID(), "-c", props,
		"--add-scram", fmt.Sprintf("SCRAM-SHA-256=[name=%s,password=%s]", scramUser, scramPassword),
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", scramUser, scramPassword),
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", limitedUser, limitedPassword))...)
	format.Dir = dir
	format.SysProcAttr = brokerProcAttr()
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kafka.tools.StorageTool format: %v\n%s", err, tail(out, 40))
	}

	if b.logFile, err = os.Create(b.logPath); err != nil {
		return nil, err
	}
	b.cmd = exec.Command(java, append(jvmArgs(dir, libs), "kafka.Kafka", props)...)
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = b.logFile, b.logFile
	b.cmd.SysProcAttr = brokerProcAttr()
	started := make(chan error)
	go func() {
		// Pdeathsig fires when the thread that forked the JVM ends, not the process: keep this goroutine on its
		// thread, and the thread alive, until the JVM has exited.
		runtime.LockOSThread()
		if err := b.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	if err := <-started; err != nil {
		b.cmd = nil
		return nil, fmt.Errorf("start java: %w", err)
	}
	if err := b.waitReady(); err != nil {
		return nil, fmt.Errorf("%w\nlast lines of %s:\n%s", err, b.logPath, b.logTail(40))
	}
	return b, nil
}

// waitReady polls the TLS-only listener, with the test CA, until the broker answers a metadata request naming itself.
func (b *secureBroker) waitReady() error {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(b.PKI.CAFile)
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(ca)
	transport := &kafka.Transport{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DialTimeout: 2 * time.Second}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(b.SSLAddr), Transport: transport, Timeout: 3 * time.Second}
	deadline := time.Now().Add(brokerStartTimeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		cancel()
		if err == nil && len(md.Brokers) > 0 {
			return nil
		}
		if err == nil {
			err = errors.New("metadata names no broker yet")
		}
		last = err
		select {
		case <-b.exited:
			return fmt.Errorf("the broker JVM exited during start (%v)", b.cmd.ProcessState)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker not ready on %s after %s: %v", b.SSLAddr, brokerStartTimeout, last)
		}
	}
}

// stop ends the broker's process group (TERM, then KILL after 10 s), waits for the JVM, and deletes the directory.
func (b *secureBroker) stop() error {
	var errs []error
	if b.cmd != nil && b.cmd.Process != nil {
		pgid := b.cmd.Process.Pid // Setpgid: the JVM leads its own group
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			select {
			case <-b.exited:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("java pid %d still alive after SIGKILL", pgid))
			}
		}
		// Anything else left in the group (there should be nothing).
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill process group %d: %w", pgid, err))
		}
	}
	if b.logFile != nil {
		_ = b.logFile.Close()
	}
	if os.Getenv("GPUMETER_KEEP_BROKER_DIR") == "" {
		if err := os.RemoveAll(b.dir); err != nil {
			errs = append(errs, err)
		}
	} else {
		fmt.Fprintf(os.Stderr, "kafkaconf: kept the broker directory %s\n", b.dir)
	}
	return errors.Join(errs...)
}

const (
	brokerDirPrefix = "kafkaconf-broker-"
	ownerFile       = "owner.pid" // the pid of the test binary that made the directory
)

// removeStaleBrokerDirs deletes the directories of earlier test binaries that died before TestMain could (a -timeout
// panic, a SIGKILL); the kernel has killed their JVMs (Pdeathsig).
func removeStaleBrokerDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), brokerDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}

func (b *secureBroker) logTail(n int) string {
	out, err := os.ReadFile(b.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(out, n)
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
