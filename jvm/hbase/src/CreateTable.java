// Create an HBase table pre-split at the given keys. Thrift1 (what happybase
// speaks) has no split keys, so ntl_spark.io.hbase.create_table runs this with
// Java's single-file source launcher against the jars of jvm/hbase/pom.xml:
//
//   java -cp "<hbase-site dir>:<lib>/*" CreateTable.java TABLE FAMILIES SPLITS_FILE [replace]
//
// FAMILIES is comma separated; SPLITS_FILE holds one split key per line (UTF-8).
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.Admin;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptorBuilder;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.TableDescriptorBuilder;

public class CreateTable {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: CreateTable TABLE FAMILIES SPLITS_FILE [replace]");
      System.exit(2);
    }
    TableName name = TableName.valueOf(args[0]);
    List<String> lines = Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8);
    byte[][] splits = lines.stream().filter(l -> !l.isEmpty())
        .map(l -> l.getBytes(StandardCharsets.UTF_8)).toArray(byte[][]::new);
    boolean replace = args.length > 3 && args[3].equals("replace");
    Configuration conf = HBaseConfiguration.create();
    try (Connection conn = ConnectionFactory.createConnection(conf); Admin admin = conn.getAdmin()) {
      if (admin.tableExists(name)) {
        if (!replace) {
          System.out.println("exists " + name);
          return;
        }
        if (admin.isTableEnabled(name)) admin.disableTable(name);
        admin.deleteTable(name);
      }
      TableDescriptorBuilder td = TableDescriptorBuilder.newBuilder(name);
      for (String fam : args[1].split(",")) {
        td.setColumnFamily(ColumnFamilyDescriptorBuilder.newBuilder(fam.getBytes(StandardCharsets.UTF_8))
            .setMaxVersions(1).build());
      }
      if (splits.length > 0) admin.createTable(td.build(), splits); else admin.createTable(td.build());
      System.out.println("created " + name + " regions " + (splits.length + 1));
    }
  }
}
