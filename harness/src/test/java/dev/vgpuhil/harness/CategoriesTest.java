package dev.vgpuhil.harness;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.harness.report.BootFailure;
import dev.vgpuhil.harness.report.InfrastructureFailure;
import dev.vgpuhil.harness.report.MediatorFailure;
import dev.vgpuhil.harness.report.ProtocolFailure;
import org.junit.jupiter.api.Test;

/** The harness's failure classes land in exactly the intended category of reports/categories.json. */
class CategoriesTest {

    @Test
    void bootFailure() throws Exception {
        String m = new BootFailure("VM 'guide' did not boot", new RuntimeException("QEMU exited with status 1\nmore"))
                .getMessage();
        assertThat(Categories.matching(m)).containsExactly("Boot failure");
    }

    @Test
    void mediatorFailure() throws Exception {
        assertThat(Categories.matching(new MediatorFailure("round 2: a-low ran before a-high").getMessage()))
                .containsExactly("Mediator failure");
    }

    @Test
    void protocolFailure() throws Exception {
        assertThat(Categories.matching(
                        new ProtocolFailure("vector-add 17 elements: STATUS=3 ERROR_CODE=4").getMessage()))
                .containsExactly("Protocol failure");
        assertThat(Categories.matching(new ProtocolFailure("agent self-test: 1 of 22 checks failed").getMessage()))
                .containsExactly("Protocol failure");
    }

    @Test
    void aProtocolFailureNamingTheMediatorIsStillOnlyAProtocolFailure() throws Exception {
        assertThat(Categories.matching(
                        new ProtocolFailure("check valid_doorbell_no_mediator: STATUS=2 ERROR_CODE=0").getMessage()))
                .containsExactly("Protocol failure");
    }

    @Test
    void anInfrastructureFailureIsOnlyThatWhateverItsCauseSays() throws Exception {
        String m = new InfrastructureFailure(
                        "VM 'a-low' request_id=1001 timed out while the harness held the scheduler (STATUS=1)",
                        new RuntimeException("MachineDiedException: QEMU killed"))
                .getMessage();
        assertThat(Categories.matching(m)).containsExactly("Infrastructure failure");
        assertThat(new InfrastructureFailure("x")).isNotInstanceOf(AssertionError.class); // Allure: broken
    }

    @Test
    void anUnrelatedAssertionLandsInNoCategory() throws Exception {
        assertThat(Categories.matching("expected: 3 but was: 4 (mediator stats counter)"))
                .isEmpty();
    }
}
