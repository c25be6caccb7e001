package dev.vouch.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The samples of a Prometheus text exposition, enough to sum a metric over label filters. */
public final class Prometheus {

    public record Sample(String name, Map<String, String> labels, double value) {
    }

    private final List<Sample> samples;

    private Prometheus(List<Sample> samples) {
        this.samples = samples;
    }

    public static Prometheus parse(String text) {
        List<Sample> list = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space;
            String name;
            Map<String, String> labels = new LinkedHashMap<>();
            if (brace >= 0 && brace < line.indexOf(' ')) {
                name = line.substring(0, brace);
                int end = line.indexOf('}', brace);
                parseLabels(line.substring(brace + 1, end), labels);
                space = end + 1;
            } else {
                space = line.indexOf(' ');
                name = line.substring(0, space);
            }
            String[] rest = line.substring(space).trim().split("\\s+");
            try {
                list.add(new Sample(name, labels, Double.parseDouble(rest[0])));
            } catch (NumberFormatException e) {
                // a value we do not need (e.g. an exemplar in a format we do not parse)
            }
        }
        return new Prometheus(list);
    }

    private static void parseLabels(String s, Map<String, String> labels) {
        int i = 0;
        while (i < s.length()) {
            int eq = s.indexOf('=', i);
            if (eq < 0) {
                return;
            }
            String key = s.substring(i, eq).trim();
            StringBuilder v = new StringBuilder();
            int j = eq + 2; // past ="
            while (j < s.length() && s.charAt(j) != '"') {
                if (s.charAt(j) == '\\' && j + 1 < s.length()) {
                    j++;
                }
                v.append(s.charAt(j));
                j++;
            }
            labels.put(key, v.toString());
            i = j + 1;
            if (i < s.length() && s.charAt(i) == ',') {
                i++;
            }
        }
    }

    /** The sum of a metric over the samples whose labels include every given pair. */
    public double sum(String name, String... labelPairs) {
        double total = 0;
        boolean any = false;
        for (Sample s : samples) {
            if (s.name().equals(name) && matches(s, labelPairs)) {
                total += s.value();
                any = true;
            }
        }
        return any ? total : Double.NaN;
    }

    /** The sum of a metric grouped by one label's value. */
    public Map<String, Double> sumBy(String name, String label) {
        Map<String, Double> m = new TreeMap<>();
        for (Sample s : samples) {
            if (s.name().equals(name) && s.labels().containsKey(label)) {
                m.merge(s.labels().get(label), s.value(), Double::sum);
            }
        }
        return m;
    }

    private static boolean matches(Sample s, String[] pairs) {
        for (int k = 0; k + 1 < pairs.length; k += 2) {
            if (!pairs[k + 1].equals(s.labels().get(pairs[k]))) {
                return false;
            }
        }
        return true;
    }
}
