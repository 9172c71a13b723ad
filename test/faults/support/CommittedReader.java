import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Second reader of the fault suite, with the Java client: reads a topic from the beginning to
 * its last stable offset with isolation.level=read_committed and prints one line per record:
 * partition, offset and the value's event_id (or "-"). Run with `java -cp <kafka libs>/*
 * CommittedReader.java <brokers> <topic>`.
 */
public class CommittedReader {
  public static void main(String[] args) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    Pattern eventId = Pattern.compile("\"event_id\":\"([^\"]+)\"");
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(args[1])) {
        partitions.add(new TopicPartition(info.topic(), info.partition()));
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      long deadline = System.currentTimeMillis() + 120_000;
      StringBuilder out = new StringBuilder();
      while (System.currentTimeMillis() < deadline) {
        boolean done = true;
        for (TopicPartition partition : partitions) {
          if (consumer.position(partition) < ends.get(partition)) done = false;
        }
        if (done) break;
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
          Matcher matcher = eventId.matcher(record.value() == null ? "" : record.value());
          out.append(record.partition()).append('\t').append(record.offset()).append('\t')
              .append(matcher.find() ? matcher.group(1) : "-").append('\n');
        }
      }
      System.out.print(out);
    }
  }
}
