// evstack's own line-protocol shim around EXIficient (the EXICodec.jar the `iso15118` package ships).
//
// Why not the jar's own EXICodec class: it speaks a JSON dialect bound to its JAXB message classes
// and its precompiled grammars. The oracle must instead answer from the official XSDs with the V2G
// options stated explicitly, so this shim builds grammars from the XSD files it is given and reads
// and writes plain XML.
//
// Started once per test session: `java -cp EXICodec.jar:<cache> OracleShim id=xsd[,fragment] ...`.
// Requests, one per line on stdin:   E <id> <base64 UTF-8 XML>   encode
//                                    D <id> <hex EXI>            decode
//                                    V <id> <base64 UTF-8 XML>   validate against the XSDs
// Answers, one per line on stdout:   OK <hex EXI | base64 UTF-8 XML | nothing>   or   ERR <reason>
// Validation exists because non-strict EXI encodes invalid documents too (as deviations): a
// corpus must prove itself valid before its bytes mean anything.
// A failed request never ends the process; only end of input does.

import com.siemens.ct.exi.core.CodingMode;
import com.siemens.ct.exi.core.EXIFactory;
import com.siemens.ct.exi.core.FidelityOptions;
import com.siemens.ct.exi.core.helpers.DefaultEXIFactory;
import com.siemens.ct.exi.grammars.GrammarFactory;
import com.siemens.ct.exi.main.api.sax.EXIResult;
import com.siemens.ct.exi.main.api.sax.EXISource;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringReader;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import javax.xml.parsers.SAXParserFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.sax.SAXSource;
import javax.xml.transform.stream.StreamResult;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.Schema;
import javax.xml.validation.SchemaFactory;
import javax.xml.validation.Validator;
import org.xml.sax.ErrorHandler;
import org.xml.sax.SAXParseException;
import org.apache.xerces.xni.XMLResourceIdentifier;
import org.apache.xerces.xni.parser.XMLEntityResolver;
import org.apache.xerces.xni.parser.XMLInputSource;
import org.xml.sax.InputSource;
import org.xml.sax.XMLReader;

public final class OracleShim {
    private record SchemaSet(String xsd, boolean fragment) {}

    /**
     * Keeps grammar building offline and tolerant of the package's folder layout: xmldsig's DTD
     * (fetched from w3.org otherwise) reads as empty, and an imported XSD missing next to its
     * importer (ISO-20 and DIN import xmldsig from their own folder) is taken from the XSD root.
     */
    private static final class OfflineResolver implements XMLEntityResolver {
        private final Path root;

        OfflineResolver(String rootXsd) {
            Path start = Path.of(URI.create(rootXsd)).getParent();
            Path top = start;
            while (top.getParent() != null && Files.exists(top.getParent().resolve("xmldsig-core-schema.xsd"))) {
                top = top.getParent();
            }
            root = top;
        }

        @Override
        public XMLInputSource resolveEntity(XMLResourceIdentifier id) {
            String literal = id.getLiteralSystemId();
            if (literal == null) {
                return null;
            }
            if (literal.endsWith(".dtd")) {
                return new XMLInputSource(id.getPublicId(), literal, id.getBaseSystemId(), new StringReader(""), null);
            }
            String expanded = id.getExpandedSystemId();
            if (expanded != null && expanded.startsWith("file:") && !Files.exists(Path.of(URI.create(expanded)))) {
                Path fallback = root.resolve(Path.of(literal).getFileName());
                if (Files.exists(fallback)) {
                    return new XMLInputSource(id.getPublicId(), fallback.toUri().toString(), null);
                }
            }
            return null;
        }
    }

    /**
     * Every validation error fails, except an IDREF without its ID (cvc-id.1): DIN types its
     * own Id attributes as IDREF, pointing nowhere, and EXI encodes IDREFs as plain strings.
     */
    private static final class StrictButIdrefs implements ErrorHandler {
        @Override
        public void warning(SAXParseException problem) {}

        @Override
        public void error(SAXParseException problem) throws SAXParseException {
            if (!problem.getMessage().startsWith("cvc-id.1")) {
                throw problem;
            }
        }

        @Override
        public void fatalError(SAXParseException problem) throws SAXParseException {
            throw problem;
        }
    }

    private final Map<String, SchemaSet> sets = new HashMap<>();
    // Building an ISO-20 grammar takes about a second: build each set once, on first use.
    private final Map<String, EXIFactory> factories = new HashMap<>();
    private final Map<String, Schema> validators = new HashMap<>();
    private final SAXParserFactory parsers = SAXParserFactory.newInstance();
    private final TransformerFactory transformers = TransformerFactory.newInstance();

    private OracleShim(String[] args) {
        parsers.setNamespaceAware(true);
        for (String arg : args) {
            String[] idAndRest = arg.split("=", 2);
            String[] xsdAndFlag = idAndRest[1].split(",", 2);
            boolean fragment = xsdAndFlag.length > 1 && xsdAndFlag[1].equals("fragment");
            sets.put(idAndRest[0], new SchemaSet(xsdAndFlag[0], fragment));
        }
    }

    /** The V2G options: schema-informed, strict = false, bit-packed, no value partitions. */
    private EXIFactory factory(String id) throws Exception {
        EXIFactory known = factories.get(id);
        if (known != null) {
            return known;
        }
        SchemaSet set = sets.get(id);
        if (set == null) {
            throw new IllegalArgumentException("unknown schema set " + id);
        }
        EXIFactory made = DefaultEXIFactory.newInstance();
        made.setGrammars(GrammarFactory.newInstance().createGrammars(set.xsd(), new OfflineResolver(set.xsd())));
        made.setFidelityOptions(FidelityOptions.createDefault());
        made.setCodingMode(CodingMode.BIT_PACKED);
        made.setValuePartitionCapacity(0);
        made.setFragment(set.fragment());
        factories.put(id, made);
        return made;
    }

    private void validate(String id, byte[] xml) throws Exception {
        Schema schema = validators.get(id);
        if (schema == null) {
            SchemaSet set = sets.get(id);
            if (set == null) {
                throw new IllegalArgumentException("unknown schema set " + id);
            }
            // Xerces from the jar: its loader takes our offline resolver, the JDK's does not.
            SchemaFactory schemas = new org.apache.xerces.jaxp.validation.XMLSchemaFactory();
            schemas.setProperty("http://apache.org/xml/properties/internal/entity-resolver", new OfflineResolver(set.xsd()));
            schema = schemas.newSchema(new StreamSource(set.xsd()));
            validators.put(id, schema);
        }
        Validator validator = schema.newValidator();
        validator.setErrorHandler(new StrictButIdrefs());
        validator.validate(new StreamSource(new ByteArrayInputStream(xml)));
    }

    private byte[] encode(String id, byte[] xml) throws Exception {
        ByteArrayOutputStream exi = new ByteArrayOutputStream();
        EXIResult result = new EXIResult(factory(id));
        result.setOutputStream(exi);
        XMLReader reader = parsers.newSAXParser().getXMLReader();
        reader.setContentHandler(result.getHandler());
        reader.parse(new InputSource(new ByteArrayInputStream(xml)));
        return exi.toByteArray();
    }

    private byte[] decode(String id, byte[] exi) throws Exception {
        EXISource source = new EXISource(factory(id));
        SAXSource sax = new SAXSource(source.getXMLReader(), new InputSource(new ByteArrayInputStream(exi)));
        ByteArrayOutputStream xml = new ByteArrayOutputStream();
        Transformer transformer = transformers.newTransformer();
        transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
        transformer.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        transformer.transform(sax, new StreamResult(xml));
        return xml.toByteArray();
    }

    private String answer(String line) {
        String[] parts = line.split(" ", 3);
        if (parts.length != 3) {
            return "ERR malformed request";
        }
        try {
            if (parts[0].equals("E")) {
                return "OK " + HexFormat.of().formatHex(encode(parts[1], Base64.getDecoder().decode(parts[2])));
            }
            if (parts[0].equals("D")) {
                return "OK " + Base64.getEncoder().encodeToString(decode(parts[1], HexFormat.of().parseHex(parts[2])));
            }
            if (parts[0].equals("V")) {
                validate(parts[1], Base64.getDecoder().decode(parts[2]));
                return "OK";
            }
            return "ERR unknown operation " + parts[0];
        } catch (Throwable failure) {
            String reason = failure.getClass().getSimpleName() + ": " + failure.getMessage();
            return "ERR " + reason.replaceAll("\\s+", " ");
        }
    }

    public static void main(String[] args) throws Exception {
        OracleShim shim = new OracleShim(args);
        // stdout carries answers only: EXIficient's own chatter must not reach it.
        PrintStream answers = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        System.setOut(System.err);
        BufferedReader requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = requests.readLine(); line != null; line = requests.readLine()) {
            answers.println(shim.answer(line));
            answers.flush();
        }
    }
}
