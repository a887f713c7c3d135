import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * Validates FHIR R4 JSON files with HAPI FHIR's instance validator.
 *
 * <p>Usage: {@code java -cp ... Validate FILE...}. Prints one line per error
 * ({@code ERROR <file> <location> <message>}) and a summary line per file
 * ({@code FILE <file> errors=N warnings=M}); exits 0 (the caller counts).
 */
public class Validate {
  public static void main(String[] args) throws Exception {
    FhirContext ctx = FhirContext.forR4();
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new SnapshotGeneratingValidationSupport(ctx));
    FhirValidator validator = ctx.newValidator();
    validator.registerValidatorModule(new FhirInstanceValidator(chain));
    for (String arg : args) {
      Path path = Path.of(arg);
      String name = path.getFileName().toString();
      ValidationResult result = validator.validateWithResult(Files.readString(path));
      int errors = 0;
      int warnings = 0;
      for (SingleValidationMessage m : result.getMessages()) {
        ResultSeverityEnum severity = m.getSeverity();
        if (severity == ResultSeverityEnum.ERROR || severity == ResultSeverityEnum.FATAL) {
          errors++;
          System.out.println("ERROR " + name + " " + m.getLocationString() + " " + m.getMessage());
        } else if (severity == ResultSeverityEnum.WARNING) {
          warnings++;
        }
      }
      System.out.println("FILE " + name + " errors=" + errors + " warnings=" + warnings);
    }
  }
}
