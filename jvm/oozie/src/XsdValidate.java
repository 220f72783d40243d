// Validate XML files against XML Schemas with the JDK's own validator (JAXP),
// so the check needs no XML library beyond the Java the project already needs.
//
//   java jvm/oozie/src/XsdValidate.java SCHEMA[,SCHEMA...] FILE [SCHEMA[,SCHEMA...] FILE ...]
//
// Each FILE is validated against the schemas listed before it (loaded together,
// so a wildcard such as the workflow action's xs:any finds the spark action's
// declaration). Every error is printed as "file:line:column: message"; the exit
// code is 0 when all files are valid, 1 when any is not, 2 on bad usage.
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import javax.xml.XMLConstants;
import javax.xml.transform.Source;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.Schema;
import javax.xml.validation.SchemaFactory;
import javax.xml.validation.Validator;
import org.xml.sax.ErrorHandler;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;

public final class XsdValidate {
    private XsdValidate() {}

    /** Collects every error instead of stopping at the first one. */
    private static final class Collect implements ErrorHandler {
        final List<String> errors = new ArrayList<>();
        final String file;

        Collect(String file) {
            this.file = file;
        }

        private void add(SAXParseException e) {
            errors.add(file + ":" + e.getLineNumber() + ":" + e.getColumnNumber() + ": " + e.getMessage());
        }

        @Override public void warning(SAXParseException e) {}
        @Override public void error(SAXParseException e) { add(e); }
        @Override public void fatalError(SAXParseException e) { add(e); }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args.length % 2 != 0) {
            System.err.println("usage: XsdValidate SCHEMA[,SCHEMA...] FILE [SCHEMA[,SCHEMA...] FILE ...]");
            System.exit(2);
        }
        SchemaFactory factory = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
        int bad = 0;
        for (int i = 0; i < args.length; i += 2) {
            String[] xsds = args[i].split(",");
            Source[] sources = new Source[xsds.length];
            for (int j = 0; j < xsds.length; j++) {
                File xsd = new File(xsds[j]);
                if (!xsd.isFile()) {
                    System.err.println("schema not found: " + xsd);
                    System.exit(2);
                }
                sources[j] = new StreamSource(xsd);
            }
            Schema schema = factory.newSchema(sources);
            Validator validator = schema.newValidator();
            Collect handler = new Collect(args[i + 1]);
            validator.setErrorHandler(handler);
            try {
                validator.validate(new StreamSource(new File(args[i + 1])));
            } catch (SAXException e) {
                // fatal (not well-formed): already recorded by the handler
                if (handler.errors.isEmpty()) handler.errors.add(args[i + 1] + ": " + e.getMessage());
            }
            for (String line : handler.errors) System.out.println(line);
            if (!handler.errors.isEmpty()) bad++;
        }
        System.exit(bad == 0 ? 0 : 1);
    }
}
