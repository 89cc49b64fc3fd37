package dev.vgpuhil.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class FuzzCampaignTest {
    @Test
    void aReplayRunsExactlyItsSeedOnce() {
        List<Long> seen = new ArrayList<>();
        FuzzCampaign.Outcome o =
                new FuzzCampaign("SomeFuzzTest", "mod", Duration.ofHours(1), Optional.of(42L)).run(seen::add);
        assertThat(seen).containsExactly(42L);
        assertThat(o.cases()).isOne();
        assertThat(o.firstSeed()).isEqualTo(42L);
    }

    @Test
    void newSeedsRunUntilTheDurationAndAreDistinct() {
        List<Long> seen = new ArrayList<>();
        FuzzCampaign.Outcome o = new FuzzCampaign("SomeFuzzTest", "mod", Duration.ofMillis(50), Optional.empty())
                .run(s -> {
                    seen.add(s);
                    Thread.sleep(5);
                });
        assertThat(o.cases()).isEqualTo(seen.size()).isGreaterThan(1);
        assertThat(seen).doesNotHaveDuplicates().startsWith(o.firstSeed()).contains(o.slowestSeed());
        assertThat(o.took()).isGreaterThanOrEqualTo(Duration.ofMillis(50));
    }

    @Test
    void aFailingCaseNamesItsSeedAndTheReplayCommand() {
        FuzzCampaign c = new FuzzCampaign("SomeFuzzTest", "mod", Duration.ofHours(1), Optional.of(-7L));
        assertThatThrownBy(() -> c.run(s -> {
                    throw new IllegalStateException("boom at " + s);
                }))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("fuzz case seed -7 failed")
                .hasMessageContaining("mvn -pl mod -am verify -Dtest=SomeFuzzTest")
                .hasMessageContaining("-Dvgpu.fuzz.seed=-7")
                .hasMessageContaining("boom at -7")
                .hasCauseInstanceOf(IllegalStateException.class);
    }
}
