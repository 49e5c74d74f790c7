// DynamoDB Local on one loopback address.
//
// DynamoDBLocal.jar has no option for the listen address: its server is a
// Jetty `new Server(port)`, which binds every interface. This launcher builds
// the server exactly as DynamoDBLocal.jar's own main does (same command-line
// options, parsed by DynamoDB Local itself), sets the host of its one Jetty
// connector before starting it, and skips only the telemetry set-up.
//
// localstack/emulators.sh runs it with Java's source-file mode, so nothing is
// compiled ahead of time (it needs a JDK, for the jdk.compiler module):
//
//   java -Dmedshare.bind=127.0.0.1 -Djava.library.path=DIR/DynamoDBLocal_lib \
//        -cp DIR/DynamoDBLocal.jar localstack/dynamodb/DynamoDBLoopback.java \
//        -inMemory -disableTelemetry -port 8000
import java.lang.reflect.Field;
import java.net.InetAddress;

import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class DynamoDBLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("medshare.bind", "127.0.0.1");
        if (!InetAddress.getByName(host).isLoopbackAddress()) {
            throw new IllegalArgumentException("medshare.bind must be a loopback address, got " + host);
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind");
        }
        for (Connector c : connectors) {
            ((ServerConnector) c).setHost(host);
        }
        proxy.start();
        for (Connector c : connectors) {
            ServerConnector sc = (ServerConnector) c;
            System.out.println("DynamoDB Local listening on " + sc.getHost() + ":" + sc.getLocalPort());
        }
        proxy.join();
    }
}
