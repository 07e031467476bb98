package forwarder.localnode;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.geo.GeoModulePlugin;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.rankeval.RankEvalPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.percolator.PercolatorPlugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.opensearch.transport.Netty4Plugin;

import sun.misc.Signal;

/**
 * A single OpenSearch node on loopback, in this JVM.
 *
 * <pre>
 * java -cp 'target/classes:target/lib/*' forwarder.localnode.LocalOpenSearch \
 *     --home target/home --data DIR --logs DIR [--config DIR] [--http-port 9250-9299] [--transport-port 9350-9399]
 *     [--exit-on-stdin-eof [--orphan-removes DIR]] [-E key=value ...]
 * </pre>
 *
 * Each -E sets a node setting, as OpenSearch's own launcher does (e.g. -E thread_pool.write.queue_size=2).
 * --config is the node's config folder (default: home/config): a node of its own (certificates, the
 * security plugin's files) gets one per start.
 *
 * The modules a distribution ships (HTTP, analyzers, painless, extra field types) come
 * from the classpath; plugin ZIPs unpacked in home/plugins/ load as real plugins.
 * Once the cluster is yellow or green it prints {@code OPENSEARCH_URL=http://127.0.0.1:PORT} (https with TLS)
 * on stdout; SIGINT or SIGTERM closes the node and exits 0. With --exit-on-stdin-eof it
 * also stops when stdin closes, so a test run that dies leaves no node behind, and then
 * removes the --orphan-removes folder (its data and logs), which no parent is left to do.
 */
public final class LocalOpenSearch {

    /** Node's constructor that takes classpath plugins is protected. */
    private static final class ClasspathPluginsNode extends Node {
        ClasspathPluginsNode(Environment environment) {
            super(
                environment,
                List.of(
                    Netty4Plugin.class,
                    CommonAnalysisPlugin.class,
                    PainlessPlugin.class,
                    MapperExtrasPlugin.class,
                    // what users' tools call on a domain: _reindex, _delete_by_query, _update_by_query,
                    // search templates, ingest pipelines, join fields, percolate, matrix stats, rank eval, geo
                    ReindexPlugin.class,
                    MustachePlugin.class,
                    IngestCommonPlugin.class,
                    ParentJoinPlugin.class,
                    PercolatorPlugin.class,
                    MatrixAggregationPlugin.class,
                    RankEvalPlugin.class,
                    GeoModulePlugin.class
                ),
                true
            );
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> nodeSettings = new LinkedHashMap<>();
        Map<String, String> options = parse(args, nodeSettings);
        Path home = Path.of(required(options, "--home")).toAbsolutePath();
        Path data = Path.of(required(options, "--data")).toAbsolutePath();
        Path logs = Path.of(required(options, "--logs")).toAbsolutePath();
        Files.createDirectories(data);
        Files.createDirectories(logs);
        Files.createDirectories(home.resolve("modules"));  // none: modules are on the classpath

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("cluster.name", "cwl-forwarder-local")
            .put("node.name", "local")  // the log pattern's [%node_name] too
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", options.getOrDefault("--http-port", "9250-9299"))
            .put("transport.port", options.getOrDefault("--transport-port", "9350-9399"))
            // CI disks can be small or nearly full: never refuse shards for disk space.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put(Settings.builder().loadFromMap(nodeSettings).build())  // -E: last, so a test may override the above
            .build();
        Path config = Path.of(options.getOrDefault("--config", home.resolve("config").toString())).toAbsolutePath();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "local");
        PrintStream stdout = System.out;  // LogConfigurator sends System.out to the log from here on
        LogConfigurator.setNodeName("local");
        LogConfigurator.configure(environment);

        Node node = new ClasspathPluginsNode(environment);
        CountDownLatch stopped = new CountDownLatch(1);
        IntConsumer stop = status -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                System.err.println("local OpenSearch: stopping: " + e);
            }
            stopped.countDown();
            System.exit(status);
        };
        Signal.handle(new Signal("INT"), signal -> stop.accept(0));
        Signal.handle(new Signal("TERM"), signal -> stop.accept(0));
        if (options.containsKey("--exit-on-stdin-eof")) {
            Thread watcher = new Thread(() -> {
                try {
                    while (System.in.read() != -1) {
                        // wait for the parent to go away
                    }
                } catch (IOException ignored) {
                    // a broken stdin means the same
                }
                String orphaned = options.get("--orphan-removes");
                if (orphaned != null) {
                    Runtime.getRuntime().addShutdownHook(new Thread(() -> removeAll(Path.of(orphaned))));
                }
                stop.accept(0);
            }, "stdin-watcher");
            watcher.setDaemon(true);
            watcher.start();
        }

        node.start();
        ClusterHealthResponse health = node.client().admin().cluster().prepareHealth()
            .setWaitForYellowStatus()
            .setTimeout(TimeValue.timeValueSeconds(120))
            .get();
        if (health.isTimedOut()) {
            System.err.println("local OpenSearch: the cluster stayed " + health.getStatus() + " for 120 s; see " + logs);
            stop.accept(1);
        }
        InetSocketAddress http = node.injector().getInstance(HttpServerTransport.class)
            .boundAddress().publishAddress().address();
        String scheme = settings.getAsBoolean("plugins.security.ssl.http.enabled", false) ? "https" : "http";
        stdout.println("OPENSEARCH_URL=" + scheme + "://" + http.getHostString() + ":" + http.getPort());
        stdout.flush();
        stopped.await();
    }

    private static void removeAll(Path folder) {
        try (var paths = Files.walk(folder)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            System.err.println("local OpenSearch: could not remove " + folder + ": " + e);
        }
    }

    private static Map<String, String> parse(String[] args, Map<String, String> nodeSettings) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("-E") && i + 1 < args.length && args[i + 1].indexOf('=') > 0) {
                String setting = args[++i];
                int equals = setting.indexOf('=');
                nodeSettings.put(setting.substring(0, equals), setting.substring(equals + 1));
            } else if (args[i].equals("--exit-on-stdin-eof")) {
                options.put(args[i], "");
            } else if (args[i].startsWith("--") && i + 1 < args.length) {
                options.put(args[i], args[++i]);
            } else {
                throw new IllegalArgumentException("unknown argument: " + args[i]);
            }
        }
        return options;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }
}
